#!/usr/bin/env python3
"""The include graph of gateway/ and drivers/, by module.

A module is a .c and its .h of the same name (gateway/lighting.c and
gateway/lighting.h are one node). An edge A -> B means a file of A includes
"B.h". The script prints the graph (text, or DOT with --dot), lists every
include circle (strongly connected component of more than one module), and
exits 1 when a circle passes through the core: the modules named in CORE
(the loop and the data path, which the parts may call but which must not
call back into a part by name). Other circles are printed as warnings.

  scripts/include-graph.py            text: one line per module, then circles
  scripts/include-graph.py --dot      DOT (dot -Tsvg) on stdout
  scripts/include-graph.py --check    only the circles; exit 1 on a core one
  scripts/include-graph.py --update-doc [FILE]
                                      rewrite the generated block of FILE
                                      (docs/architecture.md) with the text

Run from the top of the tree; docs/architecture.md has the output.
"""
import os
import re
import sys

DIRS = ("gateway", "drivers")
# The core: configuration, the loop and the data path to the northbound.
# ops.c is the gateway's own reload and health wiring (ops.h declares
# gateway_ops_*): one module with gateway. sink.c is the gateway's side of
# the driver interface (what a driver may call, implemented on struct
# gateway): one module with gateway too.
CORE = {"config", "gateway", "store", "publisher", "outbox"}
ALIAS = {"ops": "gateway", "sink": "gateway"}

INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(path):
    base = os.path.splitext(os.path.basename(path))[0]
    return ALIAS.get(base, base)


def load(root):
    known = {}
    files = []
    for d in DIRS:
        full = os.path.join(root, d)
        for name in sorted(os.listdir(full)):
            if name.endswith((".c", ".h")):
                files.append(os.path.join(d, name))
                if name.endswith(".h"):
                    known[name] = module_of(name)
    graph = {}
    for f in files:
        m = module_of(f)
        graph.setdefault(m, set())
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        for inc in INC.findall(text):
            t = known.get(os.path.basename(inc))
            if t and t != m:
                graph[m].add(t)
    return graph


def circles(graph):
    """Tarjan's strongly connected components, iteratively; size > 1 only."""
    index, low, onstack, stack, out = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        onstack.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    onstack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in onstack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    onstack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out)


BEGIN = "<!-- include-graph: begin (scripts/include-graph.py --update-doc) -->"
END = "<!-- include-graph: end -->"


def text(graph, comps):
    width = max(len(m) for m in graph) + 7
    lines = []
    for m in sorted(graph):
        name = m + (" (core)" if m in CORE else "")
        lines.append(f"{name:<{width}} -> {' '.join(sorted(graph[m])) or '-'}")
    lines.append("")
    for c in comps:
        kind = "CORE CIRCLE" if set(c) & CORE else "circle"
        lines.append(f"{kind}: {' '.join(c)}")
    if not comps:
        lines.append("no include circle")
    return "\n".join(lines)


def update_doc(path, graph, comps):
    with open(path, encoding="utf-8") as fh:
        doc = fh.read()
    a, b = doc.find(BEGIN), doc.find(END)
    if a < 0 or b < a:
        print(f"{path}: no {BEGIN} ... {END} block", file=sys.stderr)
        return 2
    block = BEGIN + "\n```\n" + text(graph, comps) + "\n```\n"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(doc[:a] + block + doc[b:])
    return 0


def main(argv):
    root = os.getcwd()
    mode = argv[1] if len(argv) > 1 else "--text"
    if mode not in ("--text", "--dot", "--check", "--update-doc"):
        print(__doc__, file=sys.stderr)
        return 2
    graph = load(root)
    comps = circles(graph)
    if mode == "--update-doc":
        return update_doc(argv[2] if len(argv) > 2 else "docs/architecture.md", graph, comps)
    if mode == "--dot":
        print("digraph wardgw {")
        print("  rankdir=LR; node [shape=box, fontsize=10];")
        for m in sorted(graph):
            if m in CORE:
                print(f'  "{m}" [style=filled, fillcolor=lightgrey];')
        for m in sorted(graph):
            for t in sorted(graph[m]):
                print(f'  "{m}" -> "{t}";')
        print("}")
    elif mode == "--text":
        print(text(graph, comps))
        return 1 if any(set(c) & CORE for c in comps) else 0
    bad = 0
    out = sys.stderr if mode == "--dot" else sys.stdout
    for c in comps:
        core = sorted(set(c) & CORE)
        kind = "CORE CIRCLE" if core else "circle"
        print(f"{kind}: {' '.join(c)}", file=out)
        bad += bool(core)
    if not comps:
        print("no include circle", file=out)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
