"""Compiles the regular-expression subset the answer grammar uses into a minimal DFA over bytes (host side, numpy).

Supported syntax, with `re.ASCII` semantics: literals, `\\d \\D \\s \\S` and escaped punctuation, classes `[...]` with
ranges and negation, `.`, groups `(...)`, `(?:...)`, `(?P<name>...)`, alternation `|`, and the quantifiers
`* + ? {m} {m,} {m,n}` with their lazy forms (laziness does not change the language, only which match `re` reports).
Anchors are not supported: every DFA here is run as a full match.

Patterns become a Thompson NFA in a shared `Nfa`; callers may add states of their own (e.g. an absorbing state that
marks "inside the think block"), then `determinize` builds the subset DFA from named start sets and minimizes it while
keeping marked states apart from unmarked ones.
"""
from __future__ import annotations

import dataclasses

import numpy as np

_DIGIT = np.zeros(256, bool)
_DIGIT[ord("0") : ord("9") + 1] = True
_SPACE = np.zeros(256, bool)
_SPACE[list(b" \t\n\r\x0b\x0c")] = True
_CLASS_ESCAPES = {"d": _DIGIT, "D": ~_DIGIT, "s": _SPACE, "S": ~_SPACE}


def byte_set(chars: bytes | str) -> np.ndarray:
    mask = np.zeros(256, bool)
    mask[list(chars.encode() if isinstance(chars, str) else chars)] = True
    return mask


ANY_BYTE = np.ones(256, bool)


class Nfa:
    """A Thompson NFA: epsilon edges and byte-set edges between integer states."""

    def __init__(self) -> None:
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[np.ndarray, int]]] = []

    def state(self) -> int:
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def add_pattern(self, pattern: str) -> tuple[int, int]:
        """Adds `pattern`; returns its (start, end) states."""
        return _Parser(pattern, self).parse()

    def closure(self, states) -> frozenset[int]:
        seen, stack = set(states), list(states)
        while stack:
            for t in self.eps[stack.pop()]:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return frozenset(seen)


class _Parser:
    """Recursive descent over the pattern, emitting NFA fragments (start, end)."""

    def __init__(self, pattern: str, nfa: Nfa) -> None:
        self.p, self.i, self.nfa = pattern, 0, nfa

    def parse(self) -> tuple[int, int]:
        frag = self._alternation()
        if self.i != len(self.p):
            raise ValueError(f"unbalanced ')' at {self.i} in {self.p!r}")
        return frag

    def _peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def _alternation(self) -> tuple[int, int]:
        branches = [self._sequence()]
        while self._peek() == "|":
            self.i += 1
            branches.append(self._sequence())
        if len(branches) == 1:
            return branches[0]
        start, end = self.nfa.state(), self.nfa.state()
        for a, b in branches:
            self.nfa.eps[start].append(a)
            self.nfa.eps[b].append(end)
        return start, end

    def _sequence(self) -> tuple[int, int]:
        start = end = self.nfa.state()
        while self._peek() not in ("", "|", ")"):
            a, b = self._repeat()
            self.nfa.eps[end].append(a)
            end = b
        return start, end

    def _repeat(self) -> tuple[int, int]:
        atom_at = self.i
        frag = self._atom()
        atom_text = self.p[atom_at : self.i]
        while self._peek() in ("*", "+", "?", "{"):
            lo, hi = self._quantifier()
            if self._peek() == "?":  # lazy: same language
                self.i += 1
            # Every copy beyond the first re-parses the atom, so nested groups get fresh states.
            if hi == 0:
                raise ValueError(f"empty repetition {{0}} in {self.p!r}")
            copies = [frag] + [_Parser(atom_text, self.nfa).parse() for _ in range(max(lo, hi or 1) - 1)]
            frag = self._quantify(copies, lo, hi)
            atom_text = self.p[atom_at : self.i]
        return frag

    def _quantifier(self) -> tuple[int, int | None]:
        c = self.p[self.i]
        self.i += 1
        if c != "{":
            return {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        close = self.p.index("}", self.i)
        lo_text, comma, hi_text = self.p[self.i : close].partition(",")
        self.i = close + 1
        lo = int(lo_text)
        return lo, (int(hi_text) if hi_text else None) if comma else lo

    def _quantify(self, copies, lo: int, hi: int | None) -> tuple[int, int]:
        """Chains `lo` mandatory copies, then `hi - lo` optional ones, or a loop on the last copy when unbounded."""
        start = end = self.nfa.state()
        for k, (a, b) in enumerate(copies):
            if k >= lo and hi is not None:
                self.nfa.eps[end].append(a)
                skip = self.nfa.state()
                self.nfa.eps[end].append(skip)
                self.nfa.eps[b].append(skip)
                end = skip
                continue
            self.nfa.eps[end].append(a)
            if hi is None and k == len(copies) - 1:
                loop_end = self.nfa.state()
                self.nfa.eps[b].append(a)
                self.nfa.eps[b].append(loop_end)
                if lo == 0:
                    self.nfa.eps[end].append(loop_end)
                end = loop_end
            else:
                end = b
        return start, end

    def _atom(self) -> tuple[int, int]:
        c = self.p[self.i]
        if c == "(":
            self.i += 1
            if self.p.startswith("?:", self.i):
                self.i += 2
            elif self.p.startswith("?P<", self.i):
                self.i = self.p.index(">", self.i) + 1
            elif self._peek() == "?":
                raise ValueError(f"unsupported group syntax at {self.i} in {self.p!r}")
            frag = self._alternation()
            if self._peek() != ")":
                raise ValueError(f"missing ')' in {self.p!r}")
            self.i += 1
            return frag
        if c in "^$":
            raise ValueError(f"anchors are not supported (DFAs always full-match): {self.p!r}")
        if c == "[":
            mask = self._class()
        elif c == "\\":
            mask = self._escape()
        elif c == ".":
            self.i += 1
            mask = ~byte_set("\n")
        else:
            self.i += 1
            mask = byte_set(c)
        start, end = self.nfa.state(), self.nfa.state()
        self.nfa.edges[start].append((mask, end))
        return start, end

    def _escape(self) -> np.ndarray:
        c = self.p[self.i + 1]
        self.i += 2
        if c in _CLASS_ESCAPES:
            return _CLASS_ESCAPES[c]
        if c.isalnum():
            raise ValueError(f"unsupported escape \\{c} in {self.p!r}")
        return byte_set(c)

    def _class(self) -> np.ndarray:
        self.i += 1
        negate = self._peek() == "^"
        self.i += negate
        mask = np.zeros(256, bool)
        first = True
        while first or self._peek() != "]":
            first = False
            if self._peek() == "\\":
                mask |= self._escape()
                continue
            lo = self.p[self.i]
            self.i += 1
            if self._peek() == "-" and self.p[self.i + 1] != "]":
                hi = self.p[self.i + 1]
                self.i += 2
                mask[ord(lo) : ord(hi) + 1] = True
            else:
                mask[ord(lo)] = True
        self.i += 1
        return ~mask if negate else mask


@dataclasses.dataclass(frozen=True)
class Dfa:
    """A minimal DFA: `next[s, byte]`; `accepting[s]`; `marked[s]` for states built from marked NFA states."""

    next: np.ndarray  # [S, 256] int32
    accepting: np.ndarray  # [S] bool
    marked: np.ndarray  # [S] bool
    starts: dict[str, int]

    def run(self, state: int, data: bytes) -> int:
        for b in data:
            state = int(self.next[state, b])
        return state


def determinize(nfa: Nfa, starts: dict[str, set[int]], accepting: set[int], marked: set[int] = frozenset()) -> Dfa:
    """Subset construction from every named start set, then Moore minimization.

    A DFA state is accepting when its NFA set holds an accepting state, marked when it holds a marked one; the
    minimization never merges states that differ in either.
    """
    # Bytes that no edge tells apart behave alike: run the construction over one representative per class.
    masks = [m for edges in nfa.edges for m, _ in edges]
    signature = np.stack(masks, axis=1) if masks else np.zeros((256, 1), bool)
    _, rep_of_class, class_of_byte = np.unique(signature, axis=0, return_index=True, return_inverse=True)
    class_of_byte = class_of_byte.reshape(-1)

    index: dict[frozenset[int], int] = {}
    sets: list[frozenset[int]] = []
    rows: list[list[int]] = []

    def intern(s: frozenset[int]) -> int:
        if s not in index:
            index[s] = len(sets)
            sets.append(s)
        return index[s]

    start_ids = {name: intern(nfa.closure(s)) for name, s in starts.items()}
    k = 0
    while k < len(sets):
        current = sets[k]
        row = []
        for byte in rep_of_class:
            moved = {t for s in current for mask, t in nfa.edges[s] if mask[byte]}
            row.append(intern(nfa.closure(moved)))
        rows.append(row)
        k += 1
    next_by_class = np.asarray(rows, np.int64)
    acc = np.array([bool(s & accepting) for s in sets])
    mark = np.array([bool(s & marked) for s in sets])

    # Moore refinement: split blocks until every state's successor blocks agree within its block.
    block = np.unique(np.stack([acc, mark], axis=1), axis=0, return_inverse=True)[1].reshape(-1)
    while True:
        sig = np.concatenate([block[:, None], block[next_by_class]], axis=1)
        refined = np.unique(sig, axis=0, return_inverse=True)[1].reshape(-1)
        if refined.max() == block.max():
            break
        block = refined
    n = block.max() + 1
    rep = np.full(n, len(block))
    np.minimum.at(rep, block, np.arange(len(block)))  # lowest-numbered member of each block
    next_min = block[next_by_class[rep]][:, class_of_byte].astype(np.int32)
    return Dfa(
        next=next_min,
        accepting=acc[rep],
        marked=mark[rep],
        starts={name: int(block[s]) for name, s in start_ids.items()},
    )


def compile_pattern(pattern: str) -> Dfa:
    """The minimal full-match DFA of one pattern, with start state `starts["start"]`."""
    nfa = Nfa()
    start, end = nfa.add_pattern(pattern)
    return determinize(nfa, {"start": {start}}, {end})
