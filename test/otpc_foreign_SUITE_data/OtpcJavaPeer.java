/*
 * A jinterface node for otpc_foreign_SUITE: a foreign (non-BEAM) peer of the C node,
 * announcing neither DIST_MONITOR nor DIST_MONITOR_NAME. The suite drives it by lines
 * on stdin and reads what it prints, one line per event:
 *
 *   ping NODE        -> "ping pong" | "ping pang"             (net_kernel is_auth)
 *   call NODE NAME   -> "call ok" | "call bad TERM" | "call timeout"
 *                       (gen_server:call({NAME, NODE}, {java, <<"hello">>, 42}) by
 *                        hand, from a fresh mailbox; echo answers the request itself)
 *   tell NODE NAME   -> "told": {java, Pid} to {NAME, NODE}, Pid the main mailbox
 *                       (registered as otpc_java)
 *   close            -> "closed": the main mailbox is closed (its "process" ends;
 *                       the node and its connections stay)
 *   quit             -> "bye", then the node closes and the program exits
 *
 * Besides, from other threads: "got TERM" for every message to the main mailbox,
 * "linked PID" after a {link, PID} message (the mailbox links to PID), "exit REASON"
 * when an exit signal reaches it through a link, and "down NODE" whenever a
 * connection of this node goes.
 *
 * usage: java -cp OtpErlang.jar:DIR OtpcJavaPeer NAME@HOST COOKIE
 */
import com.ericsson.otp.erlang.OtpErlangAtom;
import com.ericsson.otp.erlang.OtpErlangBinary;
import com.ericsson.otp.erlang.OtpErlangExit;
import com.ericsson.otp.erlang.OtpErlangLong;
import com.ericsson.otp.erlang.OtpErlangObject;
import com.ericsson.otp.erlang.OtpErlangPid;
import com.ericsson.otp.erlang.OtpErlangRef;
import com.ericsson.otp.erlang.OtpErlangTuple;
import com.ericsson.otp.erlang.OtpMbox;
import com.ericsson.otp.erlang.OtpNode;
import com.ericsson.otp.erlang.OtpNodeStatus;

import java.io.BufferedReader;
import java.io.InputStreamReader;

public class OtpcJavaPeer {
    private static final long CALL_TIMEOUT_MS = 5000;

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static OtpErlangTuple tuple(OtpErlangObject... elems) {
        return new OtpErlangTuple(elems);
    }

    /* The request of a gen_server call, and what echo answers. */
    private static OtpErlangObject request() {
        return tuple(new OtpErlangAtom("java"), new OtpErlangBinary("hello".getBytes()),
                     new OtpErlangLong(42));
    }

    private static void call(OtpNode node, String peer, String name) throws Exception {
        OtpMbox box = node.createMbox();
        try {
            OtpErlangRef ref = node.createRef();
            OtpErlangObject req = request();
            box.send(name, peer,
                     tuple(new OtpErlangAtom("$gen_call"), tuple(box.self(), ref), req));
            long deadline = System.currentTimeMillis() + CALL_TIMEOUT_MS;
            while (true) {
                long left = deadline - System.currentTimeMillis();
                OtpErlangObject m = left > 0 ? box.receive(left) : null;
                if (m == null) {
                    say("call timeout");
                    return;
                }
                if (m instanceof OtpErlangTuple && ((OtpErlangTuple) m).arity() == 2 &&
                    ref.equals(((OtpErlangTuple) m).elementAt(0))) {
                    OtpErlangObject reply = ((OtpErlangTuple) m).elementAt(1);
                    say(req.equals(reply) ? "call ok" : "call bad " + reply);
                    return;
                }
                say("got " + m); /* not ours: shown, so the suite sees it */
            }
        } finally {
            node.closeMbox(box);
        }
    }

    /* The main mailbox: prints what it gets, links on request, reports exits. */
    private static void serve(OtpMbox main) {
        while (true) {
            try {
                OtpErlangObject m = main.receive();
                if (m instanceof OtpErlangTuple && ((OtpErlangTuple) m).arity() == 2 &&
                    new OtpErlangAtom("link").equals(((OtpErlangTuple) m).elementAt(0)) &&
                    ((OtpErlangTuple) m).elementAt(1) instanceof OtpErlangPid) {
                    OtpErlangPid pid = (OtpErlangPid) ((OtpErlangTuple) m).elementAt(1);
                    main.link(pid);
                    say("linked " + pid);
                } else {
                    say("got " + m);
                }
            } catch (OtpErlangExit e) {
                say("exit " + e.reason());
            } catch (Exception e) {
                return; /* the mailbox was closed */
            }
        }
    }

    public static void main(String[] args) throws Exception {
        OtpNode node = new OtpNode(args[0], args[1]);
        node.registerStatusHandler(new OtpNodeStatus() {
            @Override
            public void remoteStatus(String peer, boolean up, Object info) {
                if (!up)
                    say("down " + peer);
            }
        });
        OtpMbox main = node.createMbox("otpc_java");
        Thread server = new Thread(() -> serve(main));
        server.setDaemon(true);
        server.start();
        say("ready " + node.node());
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            String[] w = line.trim().split("\\s+");
            if (w[0].equals("ping") && w.length == 2) {
                say(node.ping(w[1], CALL_TIMEOUT_MS) ? "ping pong" : "ping pang");
            } else if (w[0].equals("call") && w.length == 3) {
                call(node, w[1], w[2]);
            } else if (w[0].equals("tell") && w.length == 3) {
                OtpMbox box = node.createMbox();
                box.send(w[2], w[1], tuple(new OtpErlangAtom("java"), main.self()));
                node.closeMbox(box);
                say("told");
            } else if (w[0].equals("close") && w.length == 1) {
                node.closeMbox(main);
                say("closed");
            } else if (w[0].equals("quit")) {
                break;
            } else {
                say("unknown " + line);
            }
        }
        say("bye");
        node.close();
        System.exit(0);
    }
}
