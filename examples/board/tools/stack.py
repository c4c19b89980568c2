#!/usr/bin/env python3
"""A static estimate of the firmware's peak stack, from its disassembly (no nightly needed).

Each function's frame is what its prologue takes (push, vpush, sub sp); its callees are its direct
`bl` calls and tail branches to other functions. The deepest path from a root is the sum of the
frames along it (recursion is cut where it closes a cycle). Indirect calls (`blx rN`: the
executor polling a task through its vtable, wakers, `dyn Debug` in log formatting) are not
followed, so the executor's and each task's depths are computed from their own roots and added.

    llvm-objdump -d -C --no-show-raw-insn board > board.dis
    python3 tools/stack.py board.dis [--without REGEX]

`--without` leaves out the functions whose names match (e.g. `process_server_verify` for the
depth after the TLS handshake).
"""
import re
import sys
from functools import lru_cache

sys.setrecursionlimit(100000)
label = re.compile(r"^([0-9a-f]+) <(.+)>:$")
insn = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
call = re.compile(r"^(bl|b|b\.w)$")
target = re.compile(r"^0x([0-9a-f]+) <(.+?)(\+0x[0-9a-f]+)?>$")

without = re.compile(sys.argv[sys.argv.index("--without") + 1]) if "--without" in sys.argv else None
funcs = {}
order = []
current = None
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    m = label.match(line)
    if m:
        current = int(m.group(1), 16)
        funcs[current] = {"name": m.group(2), "frame": 0, "calls": set(), "indirect": 0, "n": 0}
        order.append(current)
        continue
    m = insn.match(line)
    if not m or current is None:
        continue
    f = funcs[current]
    op, args = m.group(2), m.group(3).split("@")[0].strip()
    f["n"] += 1
    if op in ("push", "push.w", "stmdb") and (op.startswith("push") or args.startswith("sp!")):
        regs = args[args.index("{") + 1 : args.index("}")]
        count = 0
        for part in regs.split(","):
            part = part.strip()
            if "-" in part:
                a, b = part.split("-")
                count += int(b[1:]) - int(a[1:]) + 1
            else:
                count += 1
        f["frame"] += 4 * count
    elif op in ("vpush", "vpush.64"):
        regs = args[args.index("{") + 1 : args.index("}")]
        for part in regs.split(","):
            part = part.strip()
            width = 8 if part.startswith("d") else 4
            if "-" in part:
                a, b = part.split("-")
                f["frame"] += width * (int(b[1:]) - int(a[1:]) + 1)
            else:
                f["frame"] += width
    elif op in ("sub", "sub.w", "subw") and args.startswith("sp"):
        imm = re.search(r"#(0x[0-9a-f]+|\d+)", args)
        if imm:
            f["frame"] += int(imm.group(1), 0)
    elif op in ("str", "str.w") and args.startswith("lr, [sp, #-4]!"):
        f["frame"] += 4
    elif call.match(op):
        t = target.match(args)
        # A call, or a branch to another function's start (a tail call).
        if t and t.group(3) is None and int(t.group(1), 16) != current:
            f["calls"].add(int(t.group(1), 16))
    elif op == "blx":
        f["indirect"] += 1

visiting = set()


@lru_cache(maxsize=None)
def depth(name):
    if name not in funcs or name in visiting:
        return (0, ())
    if without is not None and without.search(funcs[name]["name"]):
        return (0, ())
    visiting.add(name)
    best = (0, ())
    for callee in funcs[name]["calls"]:
        d = depth(callee)
        if d[0] > best[0]:
            best = d
    visiting.discard(name)
    return (funcs[name]["frame"] + best[0], (name,) + best[1])


def report(title, names):
    results = sorted(((depth(n), n) for n in names), reverse=True)
    if not results:
        return 0
    (total, path), name = results[0]
    print(f"{title}: {total} bytes, deepest from {short(name)}")
    for step in path:
        print(f"  {funcs[step]['frame']:6d}  {short(step)}")
    return total


def short(address):
    name = funcs[address]["name"]
    return re.sub(r"::h[0-9a-f]{16}$", "", name)[:150]


def named(*names):
    return [a for a in funcs if funcs[a]["name"] in names]


tasks = [a for a in funcs if "TaskStorage" in funcs[a]["name"] and "::poll" in funcs[a]["name"]]
main = report("main and the executor's loop (reset handler down to a task's poll)", named("Reset", "main"))
task = report("the deepest task poll", tasks)
handlers = named("ETH", "HASH_RNG", "TIM2", "TIM3", "TIM4", "TIM5", "SysTick", "DefaultHandler")
irq = report("the deepest interrupt handler", handlers)
# An exception pushes 8 words, plus 18 FPU words when the interrupted code used the FPU.
exception = 8 * 4 + 18 * 4
print(f"peak estimate: {main} + {task} + {irq} + {exception} (exception frame) = {main + task + irq + exception} bytes")
print("largest frames:")
for address in sorted(funcs, key=lambda a: -funcs[a]["frame"])[:8]:
    print(f"  {funcs[address]['frame']:6d}  {short(address)}")
