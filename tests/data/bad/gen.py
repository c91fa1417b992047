#!/usr/bin/env python3
"""Writes the malformed protocols of tests/data/bad and expect.txt.
Each case: file name, content, expected LINE:COL and a reason substring.
Run from this folder; the generated files are committed."""
H = "protocol P =\n  roles A, B\n"
cases = []
def case(name, text, pos, reason, mode="w"):
    cases.append((name, text, pos, reason, mode))

case("undeclared_role.tell", H + "  A -> C : Ping\n", "3:8", "undeclared role C")
case("undeclared_sender.tell", H + "  A -> B : Ping\n  D -> A : Pong\n", "4:3", "undeclared role D")
case("duplicate_role.tell", "protocol P =\n  roles A, B, A\n  A -> B : Ping\n", "2:15", "duplicate role A")
case("unused_role.tell", "protocol P =\n  roles A, B, C\n  A -> B : Ping\n", "2:15", "role C is declared but never used")
case("self_send.tell", H + "  A -> A : Ping\n", "3:8", "self-send")
case("duplicate_label.tell", H + "  choice A at\n    | Yes =>\n      A -> B : Yes\n    | Yes =>\n      A -> B : No\n", "6:7", "duplicate branch label Yes")
case("different_receivers.tell", "protocol P =\n  roles A, B, C\n  choice A at\n    | L =>\n      A -> B : L\n      B -> C : X\n    | R =>\n      A -> C : R\n      C -> B : Y\n", "8:12", "branch R sends to C, but branch L sends to B")
case("branch_not_decider.tell", H + "  choice A at\n    | Go =>\n      B -> A : Go\n    | Stop =>\n      A -> B : Stop\n", "4:7", "does not start with a send from A")
case("branch_starts_continue.tell", H + "  rec X\n    choice A at\n      | Go =>\n        continue X\n      | Stop =>\n        A -> B : Stop\n", "5:9", "does not start with a send from A")
case("unknown_continue.tell", H + "  rec Loop\n    A -> B : Ping\n    continue Lop\n", "5:14", "continue Lop: no enclosing rec Lop")
case("continue_outside_rec.tell", H + "  A -> B : Ping\n  continue Loop\n", "4:12", "no enclosing rec Loop")
case("unguarded_rec.tell", H + "  A -> B : Ping\n  rec X\n    continue X\n", "5:5", "unguarded recursion")
case("unguarded_nested_rec.tell", H + "  A -> B : Ping\n  rec X\n    rec Y\n      continue X\n", "6:7", "unguarded recursion")
case("unreachable_after_continue.tell", H + "  rec X\n    A -> B : Ping\n    continue X\n    B -> A : Pong\n", "6:5", "unreachable")
case("unprojectable_send_merge.tell", "protocol P =\n  roles A, B, C\n  choice A at\n    | L =>\n      A -> B : L\n      C -> B : X\n    | R =>\n      A -> B : R\n      C -> B : Y\n", "3:3", "role C is not projectable")
case("unprojectable_end_merge.tell", "protocol P =\n  roles A, B, C\n  choice A at\n    | L =>\n      A -> B : L\n      B -> C : X\n    | R =>\n      A -> B : R\n", "3:3", "end merges only with end")
case("bad_indentation.tell", H + "  rec X\n      A -> B : Ping\n    continue X\n", "5:5", "inconsistent indentation")
case("tab_indentation.tell", H + "\tA -> B : Ping\n", "3:1", "tab in indentation")
case("missing_colon.tell", H + "  A -> B Ping\n", "3:10", "expected ':'")
case("missing_roles.tell", "protocol P =\n  A -> B : Ping\n", "2:3", "expected 'roles'")
case("unsupported_par.tell", H + "  par\n    | A -> B : X\n    | B -> A : Y\n", "3:3", "not supported yet: parallel composition")
case("unsupported_role_family.tell", "protocol P =\n  roles A, W[*]\n  A -> W[*] : Ping\n", "2:13", "not supported yet: role families")
case("unsupported_effect.tell", "effect Db\n  authoritative get : Unit -> Int\nprotocol P =\n  roles A, B\n  A -> B : Ping\n", "1:1", "not supported yet: effect declarations")
case("unsupported_type.tell", "type alias Id = Int\nprotocol P =\n  roles A, B\n  A -> B : Ping of Id\n", "1:1", "not supported yet: type declarations")
case("unsupported_case.tell", H + "  case x of\n    | Ok =>\n      A -> B : Ping\n", "3:3", "not supported yet: case")
case("unsupported_timeout.tell", H + "  timeout 5s A at\n    A -> B : Ping\n", "3:3", "not supported yet: timeout")
case("unsupported_guard.tell", H + "  choice A at\n    | Go when (ready) =>\n      A -> B : Go\n    | Stop =>\n      A -> B : Stop\n", "4:10", "not supported yet: guards")
case("unsupported_loop_while.tell", H + "  loop while \"more\"\n    A -> B : Ping\n", "3:8", "not supported yet: loop while")
case("empty.tell", "", "1:1", "empty protocol file")
case("only_comments.tell", "-- nothing here\n\n   -- still nothing\n", "1:1", "empty protocol file")
case("binary.tell", b"protocol P =\n  roles A, B\n  A -> B : P\x00\x01\x02\xff\n", "3:13", "NUL byte", "wb")
case("invalid_utf8.tell", b"protocol P =\n  roles A, B\n  A -> B : Caf\xc3\x28\n", "3:15", "invalid UTF-8", "wb")
case("long_identifier.tell", H + "  A -> B : " + "M" * 10000 + "\n", "3:12", "identifier longer than 255")
# 1,000 nested recs, each one deeper: the lexer stops at TR_MAX_NESTING.
deep = "protocol P =\n  roles A, B\n" + "".join("  " * (i + 1) + "rec X%d\n" % i for i in range(1000)) + "  " * 1001 + "A -> B : Ping\n"
case("deep_nesting.tell", deep, "259:515", "nesting deeper than 256")
deep_br = H + "  A -> B : M(" + "(" * 1000 + ")" * 1000 + ")\n"
case("deep_brackets.tell", deep_br, "3:269", "brackets nested deeper than 256")
case("call_unknown.tell", H + "  call Handshake\n", "3:8", "no protocol Handshake")
case("call_cycle.tell", H + "  call Ping\nwhere\n  protocol Ping =\n    A -> B : Ping\n    call Ping\n", "7:10", "calls itself")
case("decide_first_not_decider.tell", H + "  loop decide by A\n    B -> A : Ping\n", "4:5", "must start with a send from A")
case("shadowed_rec.tell", H + "  rec X\n    A -> B : Ping\n    rec X\n      B -> A : Pong\n      continue X\n", "5:9", "shadows the enclosing rec X")
case("unclosed_bracket.tell", H + "  A -> B : M(x : Int\n", "3:13", "bracket is never closed")
case("repeat_too_large.tell", H + "  loop repeat 1000000\n    A -> B : Ping\n", "3:15", "repeat count")
case("repeat_too_big_total.tell", H + "  loop repeat 100000\n    loop repeat 100000\n      A -> B : Ping\n", "5:7", "protocol too large")

with open("expect.txt", "w") as m:
    pass
    for name, text, pos, reason, mode in cases:
        with open(name, mode) as f:
            f.write(text)
        m.write("%s\t%s\t%s\n" % (name, pos, reason))
print(len(cases), "cases")
