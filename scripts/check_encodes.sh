#!/usr/bin/env bash
# Fails (with file:line) on any statement in c_src/ that calls an encoder and
# drops its result: ei_x_encode_*, ei_x_append*, ei_x_new*, ei_x_format*,
# ei_encode_*, and otpc's own otpc_x_* / otpc__x_*. They fail only when memory
# runs out, but a later encode into the same buffer succeeds, so an ignored
# failure leaves a term that is silently corrupt.
#
# The check reads statements, not lines: comments, strings and preprocessor
# lines are blanked, the text is cut at `;`, `{` and `}` outside parentheses,
# and each statement loses its `if (...)`, `else`, `case X:`, labels and the
# like. A statement that assigns or returns uses its calls; otherwise a call
# of the list that is not an argument of another call (grouping parentheses
# and casts, `(void)` included, do not count) has its result dropped. The
# first and third clauses of a `for` header are checked the same way.
#
# Usage: scripts/check_encodes.sh [FILE...] (default: c_src/**/*.c without
# c_src/test/, c_src/fuzz/ and build directories).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
    mapfile -t files < <(find c_src -name '*.c' -not -path 'c_src/test/*' \
        -not -path 'c_src/fuzz/*' -not -path 'c_src/build*' | sort)
else
    files=("$@")
fi
[ ${#files[@]} -gt 0 ] || { echo "check_encodes: no files" >&2; exit 2; }

exec perl -e '
use strict;
use warnings;

my $TARGET = qr/\b(?:ei_x_(?:encode|append|new|format)\w*|ei_encode_\w+|otpc_x_\w+|otpc__x_\w+)\b/;
my %KEYWORD = map { $_ => 1 } qw(return sizeof if while for switch case else do);
my ($file, @line_at, $bad);

# Comments, string and character literals and preprocessor lines become spaces
# (newlines kept, so offsets still give line numbers).
sub blank {
    my ($s) = @_;
    my $out = "";
    my $n = length $s;
    my ($i, $bol, $pp) = (0, 1, 0); # $bol: only spaces so far on the line; $pp: in a directive
    while ($i < $n) {
        my $c = substr($s, $i, 1);
        my $two = substr($s, $i, 2);
        if ($two eq "//") {
            while ($i < $n && substr($s, $i, 1) ne "\n") { $out .= " "; $i++; }
            next;
        }
        if ($two eq "/*") {
            my $end = index($s, "*/", $i + 2);
            $end = $n - 2 if $end < 0;
            (my $chunk = substr($s, $i, $end + 2 - $i)) =~ s/[^\n]/ /g;
            $out .= $chunk; $i = $end + 2;
            next;
        }
        if ($c eq "\n") {
            $pp = 0 unless $i > 0 && substr($s, $i - 1, 1) eq "\\";
            $out .= $c; $i++; $bol = 1;
            next;
        }
        $pp = 1 if $bol && $c eq "#";
        $bol = $bol && $c =~ /\s/;
        if ($pp) { $out .= " "; $i++; next; }
        if ($c eq "\"" || $c eq "\x27") {
            $out .= $c; $i++;
            while ($i < $n) {
                my $d = substr($s, $i, 1);
                if ($d eq "\\") { $out .= "  "; $i += 2; next; }
                if ($d eq $c) { $out .= $c; $i++; last; }
                $out .= $d eq "\n" ? "\n" : " "; $i++;
            }
            next;
        }
        $out .= $c; $i++;
    }
    return $out;
}

sub line_of {
    my ($off) = @_;
    my ($lo, $hi) = (0, $#line_at);
    while ($lo < $hi) {
        my $mid = int(($lo + $hi + 1) / 2);
        if ($line_at[$mid] <= $off) { $lo = $mid; } else { $hi = $mid - 1; }
    }
    return $lo + 1;
}

# Index just past the bracket that closes the one at $i.
sub close_of {
    my ($s, $i) = @_;
    my $depth = 0;
    for (my $k = $i; $k < length $s; $k++) {
        my $c = substr($s, $k, 1);
        $depth++ if $c =~ /[(\[{]/;
        $depth-- if $c =~ /[)\]}]/;
        return $k + 1 if $depth == 0;
    }
    return length $s;
}

sub has_assignment {
    my ($e) = @_;
    my $depth = 0;
    for (my $k = 0; $k < length $e; $k++) {
        my $c = substr($e, $k, 1);
        if ($c =~ /[(\[{]/) { $depth++; next; }
        if ($c =~ /[)\]}]/) { $depth--; next; }
        next if $depth || $c ne "=";
        next if substr($e, $k + 1, 1) eq "=";
        my $p = $k > 0 ? substr($e, $k - 1, 1) : "";
        if ($p eq "=" || $p eq "!") { next; }
        if ($p eq "<" || $p eq ">") { # <= >= compare; <<= >>= assign
            next unless $k > 1 && substr($e, $k - 2, 1) eq $p;
        }
        return 1;
    }
    return 0;
}

# An expression whose value is dropped: report each call of the list in it that
# sits only inside grouping parentheses.
sub dropped {
    my ($e, $off) = @_;
    return if has_assignment($e);
    my @open; # one per open bracket: 1 if it passes a value on (a call, an index)
    for (my $k = 0; $k < length $e; $k++) {
        my $c = substr($e, $k, 1);
        if ($c eq "(") {
            my $before = substr($e, 0, $k);
            my $uses = 0;
            if ($before =~ /(\w+)\s*$/) { $uses = !$KEYWORD{$1}; }
            elsif ($before =~ /[)\]]\s*$/) { $uses = 1; }
            push @open, $uses;
        } elsif ($c eq "[" || $c eq "{") {
            push @open, 1;
        } elsif ($c =~ /[)\]}]/) {
            pop @open;
        } elsif ((pos($e) = $k, $e =~ /\G$TARGET\s*\(/) && ($k == 0 || substr($e, $k - 1, 1) !~ /\w/)) {
            next if grep { $_ } @open;
            # after a type name it is a declaration, not a call
            next if substr($e, 0, $k) =~ /(\w+)[\s*]*$/ && !$KEYWORD{$1};
            (my $name = substr($e, $k)) =~ s/^(\w+).*/$1/s;
            printf "%s:%d: %s: result dropped (a failed encode would go unnoticed)\n",
                $file, line_of($off + $k), $name;
            $bad = 1;
            $k += length($name) - 1;
        }
    }
}

# One statement: take off what controls it, then look at what is left.
sub statement {
    my ($s, $off) = @_;
    my $p = 0;
    while (1) {
        pos($s) = $p;
        if ($s =~ /\G\s+/gc) { $p = pos($s); next; }
        pos($s) = $p;
        if ($s =~ /\G(?:else|do)\b/gc) { $p = pos($s); next; }
        pos($s) = $p;
        if ($s =~ /\G(if|while|switch|for)\s*(?=\()/gc) {
            my ($kw, $open) = ($1, pos($s));
            my $end = close_of($s, $open);
            if ($kw eq "for") {
                my $inner = substr($s, $open + 1, $end - $open - 2);
                my ($depth, $start, @clauses) = (0, 0);
                for (my $k = 0; $k <= length $inner; $k++) {
                    my $c = $k < length $inner ? substr($inner, $k, 1) : ";";
                    $depth++ if $c =~ /[(\[{]/;
                    $depth-- if $c =~ /[)\]}]/;
                    if ($c eq ";" && $depth == 0) { push @clauses, [$start, $k]; $start = $k + 1; }
                }
                for my $i (0, 2) {
                    next unless $clauses[$i];
                    my ($a, $b) = @{$clauses[$i]};
                    dropped(substr($inner, $a, $b - $a), $off + $open + 1 + $a);
                }
            }
            $p = $end;
            next;
        }
        pos($s) = $p;
        if ($s =~ /\G(?:case\b[^:]*|default\s*):(?!:)/gc) { $p = pos($s); next; }
        pos($s) = $p;
        if ($s =~ /\G(\w+)\s*:(?!:)/gc && !$KEYWORD{$1}) { $p = pos($s); next; }
        last;
    }
    pos($s) = $p;
    return if $s =~ /\G(?:return|goto|break|continue)\b/;
    dropped(substr($s, $p), $off + $p);
}

for my $f (@ARGV) {
    $file = $f;
    open(my $fh, "<", $file) or die "check_encodes: $file: $!\n";
    local $/;
    my $src = blank(scalar <$fh>);
    close $fh;
    @line_at = (0);
    while ($src =~ /\n/g) { push @line_at, pos($src); }
    # Cut statements at ; { } outside parentheses. A brace after `=` opens an
    # initializer, read as one expression.
    my ($depth, $start, $init) = (0, 0, 0);
    for (my $k = 0; $k < length $src; $k++) {
        my $c = substr($src, $k, 1);
        if ($c eq "(" || $c eq "[") { $depth++; next; }
        if ($c eq ")" || $c eq "]") { $depth-- if $depth; next; }
        next if $depth;
        if ($c eq "{") {
            if ($init || substr($src, $start, $k - $start) =~ /=\s*$/) { $init++; next; }
        } elsif ($c eq "}") {
            if ($init) { $init--; next; }
        } elsif ($c ne ";" || $init) {
            next;
        }
        statement(substr($src, $start, $k - $start), $start);
        $start = $k + 1;
    }
}
if ($bad) {
    print "check_encodes: handle each result (chain with ||, see docs/ARCHITECTURE.md)\n";
    exit 1;
}
printf "check_encodes: %d files: ok\n", scalar @ARGV;
' "${files[@]}"
