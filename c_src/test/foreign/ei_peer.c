/*
 * ei_peer: an erl_interface C node for test/otpc_foreign_SUITE.erl, a foreign (non-BEAM)
 * peer of the C node that does ei's own handshake (ei_connect) and announces
 * DIST_MONITOR but not DIST_MONITOR_NAME. It uses libei only, none of otpc.
 *
 *   ei_peer NAME@HOST COOKIE CNODE [CTNODE REGNAME]
 *
 * connects to CNODE and prints, one line each: "connected", "ping pong" (net_kernel
 * answered {is_auth, NAME@HOST} with yes, as net_adm:ping asks), "call ok" (echo
 * answered gen_server:call({echo, CNODE}, {ei, <<"hello">>, 42}) with the request).
 * Without CTNODE it then calls echo with a 1 MiB binary and prints "big ok" when the
 * reply is the request, byte for byte: ei announces no DFLAG_FRAGMENTS, so the C node
 * must send it whole, in the pass-through form. With CTNODE and REGNAME it then has the C node's otpc_probe send {ei, Self} to
 * {REGNAME, CTNODE}, prints "told", and reports what reaches it until the message
 * `quit`: "msg TYPE" for every control message but ticks (TYPE the operation: 2 send,
 * 6 reg_send, 19 monitor_p...), then "got TERM" for a message. It exits 0 after "bye",
 * 1 on any failure (with "error ..." printed).
 */
#include <ei.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT_MS 10000

static void say(const char *line)
{
    printf("%s\n", line);
    fflush(stdout);
}

static void die(const char *what)
{
    printf("error %s (erl_errno %d)\n", what, erl_errno);
    fflush(stdout);
    exit(1);
}

/* {'$gen_call', {Self, Ref}, Req} to the registered `server`; the reply's term is left
 * in `reply` (at *index) for the caller. Messages that are not the reply are skipped. */
static void gen_call(ei_cnode *ec, int fd, const char *server, const ei_x_buff *req,
                     ei_x_buff *reply, int *index)
{
    erlang_ref ref;
    ei_x_buff x;
    char name[MAXATOMLEN_UTF8]; /* ei_reg_send takes it non-const */
    snprintf(name, sizeof name, "%s", server);
    if (ei_make_ref(ec, &ref) || ei_x_new_with_version(&x) || ei_x_encode_tuple_header(&x, 3) ||
        ei_x_encode_atom(&x, "$gen_call") || ei_x_encode_tuple_header(&x, 2) ||
        ei_x_encode_pid(&x, ei_self(ec)) || ei_x_encode_ref(&x, &ref) ||
        ei_x_append_buf(&x, req->buff, req->index))
        die("encoding a call");
    if (ei_reg_send_tmo(ec, fd, name, x.buff, x.index, TIMEOUT_MS))
        die("sending a call");
    ei_x_free(&x);
    for (;;) {
        erlang_msg msg;
        int arity, version;
        erlang_ref got;
        int rc = ei_xreceive_msg_tmo(fd, &msg, reply, TIMEOUT_MS);
        if (rc == ERL_TICK)
            continue;
        if (rc == ERL_ERROR)
            die("waiting for a reply");
        *index = 0;
        if (msg.msgtype == ERL_SEND && ei_decode_version(reply->buff, index, &version) == 0 &&
            ei_decode_tuple_header(reply->buff, index, &arity) == 0 && arity == 2 &&
            ei_decode_ref(reply->buff, index, &got) == 0 && ei_cmp_refs(&got, &ref) == 0)
            return;
    }
}

static void ping(ei_cnode *ec, int fd)
{
    ei_x_buff req, reply;
    char answer[MAXATOMLEN_UTF8];
    int i;
    if (ei_x_new(&req) || ei_x_new(&reply) || ei_x_encode_tuple_header(&req, 2) ||
        ei_x_encode_atom(&req, "is_auth") || ei_x_encode_atom(&req, ei_thisnodename(ec)))
        die("encoding is_auth");
    gen_call(ec, fd, "net_kernel", &req, &reply, &i);
    say(ei_decode_atom(reply.buff, &i, answer) == 0 && strcmp(answer, "yes") == 0 ? "ping pong"
                                                                                  : "ping pang");
    ei_x_free(&req);
    ei_x_free(&reply);
}

static void call_echo(ei_cnode *ec, int fd)
{
    ei_x_buff req, reply;
    char atom[MAXATOMLEN_UTF8], bin[16];
    long binlen = 0, n = 0;
    int i, at, arity;
    if (ei_x_new(&req) || ei_x_new(&reply) || ei_x_encode_tuple_header(&req, 3) ||
        ei_x_encode_atom(&req, "ei") || ei_x_encode_binary(&req, "hello", 5) ||
        ei_x_encode_long(&req, 42))
        die("encoding the request");
    gen_call(ec, fd, "echo", &req, &reply, &i);
    /* The binary's length first (NULL: not copied), so only 5 bytes are ever copied. */
    int same = ei_decode_tuple_header(reply.buff, &i, &arity) == 0 && arity == 3 &&
               ei_decode_atom(reply.buff, &i, atom) == 0 && strcmp(atom, "ei") == 0 &&
               (at = i, ei_decode_binary(reply.buff, &i, NULL, &binlen) == 0) && binlen == 5 &&
               ei_decode_binary(reply.buff, &at, bin, &binlen) == 0 &&
               memcmp(bin, "hello", 5) == 0 && ei_decode_long(reply.buff, &i, &n) == 0 && n == 42;
    say(same ? "call ok" : "call bad");
    ei_x_free(&req);
    ei_x_free(&reply);
}

/* echo called with a 1 MiB binary (above the C node's fragment size) comes back whole. */
static void call_big(ei_cnode *ec, int fd)
{
    enum { BIG = 1 << 20 };
    ei_x_buff req, reply;
    char *bin = malloc(BIG), *back = malloc(BIG);
    long len = 0;
    int i;
    if (!bin || !back)
        die("out of memory");
    for (long k = 0; k < BIG; k++)
        bin[k] = (char)(k * 131 + k / 7);
    if (ei_x_new(&req) || ei_x_new(&reply) || ei_x_encode_binary(&req, bin, BIG))
        die("encoding the request");
    gen_call(ec, fd, "echo", &req, &reply, &i);
    int at = i;
    int same = ei_decode_binary(reply.buff, &at, NULL, &len) == 0 && len == BIG &&
               ei_decode_binary(reply.buff, &i, back, &len) == 0 && memcmp(bin, back, BIG) == 0;
    say(same ? "big ok" : "big bad");
    ei_x_free(&req);
    ei_x_free(&reply);
    free(bin);
    free(back);
}

/* otpc_probe on the C node: {send, {RegName, CtNode}, {ei, Self}}. */
static void tell(ei_cnode *ec, int fd, const char *ctnode, const char *regname)
{
    ei_x_buff x;
    char probe[] = "otpc_probe";
    if (ei_x_new_with_version(&x) || ei_x_encode_tuple_header(&x, 3) ||
        ei_x_encode_atom(&x, "send") || ei_x_encode_tuple_header(&x, 2) ||
        ei_x_encode_atom(&x, regname) || ei_x_encode_atom(&x, ctnode) ||
        ei_x_encode_tuple_header(&x, 2) || ei_x_encode_atom(&x, "ei") ||
        ei_x_encode_pid(&x, ei_self(ec)))
        die("encoding the tell");
    if (ei_reg_send_tmo(ec, fd, probe, x.buff, x.index, TIMEOUT_MS))
        die("sending the tell");
    ei_x_free(&x);
    say("told");
}

/* Report every control message until the message `quit`. */
static void listen_until_quit(int fd)
{
    ei_x_buff x;
    if (ei_x_new(&x))
        die("allocating");
    for (;;) {
        erlang_msg msg;
        char line[64];
        int rc = ei_xreceive_msg_tmo(fd, &msg, &x, TIMEOUT_MS);
        if (rc == ERL_TICK)
            continue;
        if (rc == ERL_ERROR)
            die("waiting for messages");
        snprintf(line, sizeof line, "msg %ld", msg.msgtype);
        say(line);
        if (msg.msgtype != ERL_SEND && msg.msgtype != ERL_REG_SEND)
            continue;
        char *text = NULL;
        int i = 0, version;
        if (ei_decode_version(x.buff, &i, &version) || ei_s_print_term(&text, x.buff, &i) < 0)
            die("decoding a message");
        printf("got %s\n", text);
        fflush(stdout);
        int quit = strcmp(text, "quit") == 0;
        free(text);
        if (quit)
            break;
    }
    ei_x_free(&x);
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 6) {
        fprintf(stderr, "usage: %s NAME@HOST COOKIE CNODE [CTNODE REGNAME]\n", argv[0]);
        return 2;
    }
    char alive[MAXATOMLEN_UTF8], *host;
    snprintf(alive, sizeof alive, "%s", argv[1]);
    if (!(host = strchr(alive, '@')))
        die("no @ in the node name");
    *host++ = 0;
    ei_cnode ec;
    if (ei_init() || ei_connect_xinit(&ec, host, alive, argv[1], NULL, argv[2], 0) < 0)
        die("ei_connect_xinit");
    int fd = ei_connect_tmo(&ec, argv[3], TIMEOUT_MS);
    if (fd < 0)
        die("ei_connect");
    say("connected");
    ping(&ec, fd);
    call_echo(&ec, fd);
    if (argc == 6) {
        tell(&ec, fd, argv[4], argv[5]);
        listen_until_quit(fd);
    } else {
        call_big(&ec, fd);
    }
    say("bye");
    ei_close_connection(fd);
    return 0;
}
