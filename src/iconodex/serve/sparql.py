"""Pseudo-SPARQL: the one query shape SARI's CLIP service understands, parsed for real.

```
PREFIX clip: <https://service.swissartresearch.net/clip/>
SELECT ?iiif ?score WHERE {
    ?request a clip:Request ; clip:queryString "A mountain lake" ; clip:minScore "0.2" ;
             clip:score ?score ; clip:iiifUrl ?iiif .
} LIMIT 10
```
Any variable names, any predicate order, full IRIs or prefixed names, ``;``/``,``/``.`` forms,
comments, ``BASE``, ``SELECT *`` and ``DISTINCT`` are accepted, since engines rewrite the pattern
before sending it through ``SERVICE`` (Oxigraph sends ``BASE <…> SELECT * WHERE { ?r <…#type> … }``
with no LIMIT). Besides ``score`` and ``iiifUrl``, ``imageId``, ``link`` and ``title`` can be
bound. Anything else is a :class:`SparqlError` naming what is not supported.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..errors import IconodexError

CLIP = "https://service.swissartresearch.net/clip/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
OUTPUTS = ("score", "iiifUrl", "imageId", "link", "title")  # clip: predicates whose object is a variable
INPUTS = ("queryString", "minScore")

_TOKEN = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<datatype>\^\^)
  | (?P<lang>@[A-Za-z]+(?:-[A-Za-z0-9]+)*)
  | (?P<var>[?$][A-Za-z0-9_\u00C0-\uFFFF]+)
  | (?P<bnode>_:[A-Za-z0-9_\-.]+)
  | (?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<pname>(?:[A-Za-z][\w\-.]*)?:(?:[\w\-.%]*[\w\-%])?)
  | (?P<word>[A-Za-z]+)
  | (?P<punct>[{}.;,*()])
""", re.VERBOSE)
MAX_DIGITS = 9  # LIMIT/OFFSET; anything longer is out of range (and int() refuses 4,300+ digits)
WHOLE_NUMBER = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


class SparqlError(IconodexError):
    """A query outside the supported pattern; the message says what to change."""


@dataclass(frozen=True)
class Term:
    kind: str  # "var", "iri", "literal", "bnode"
    value: str


@dataclass
class ClipQuery:
    """What the pattern asks for: the search, and which variable receives which output."""

    text: str
    min_score: float | None
    limit: int | None
    offset: int
    variables: list[str]                                  # the projection, in order
    outputs: dict[str, str] = field(default_factory=dict)  # clip output name -> variable
    request_var: str | None = None


def tokenize(query: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None:
            raise SparqlError(f"cannot parse the query near {query[position:position + 30]!r}")
        position = match.end()
        if match.lastgroup != "ws":
            tokens.append((match.lastgroup or "", match.group()))
    return tokens


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = tokenize(query)
        self.position = 0
        self.prefixes: dict[str, str] = {}

    # -- tokens -------------------------------------------------------------------------------

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.position += 1
        return token

    def word(self, *words: str) -> str | None:
        """Consume the next token if it is one of ``words`` (keywords are case-insensitive)."""
        kind, text = self.peek()
        if kind in ("word", "punct") and text.upper() in words:
            self.position += 1
            return text.upper()
        return None

    def expect(self, text: str) -> None:
        if self.word(text) is None:
            raise SparqlError(f"expected {text!r} but found {_shown(self.peek()[1] or 'the end of the query')}")

    # -- grammar ------------------------------------------------------------------------------

    def prologue(self) -> None:
        while True:
            if self.word("BASE"):
                self.take()
            elif self.word("PREFIX"):
                kind, name = self.take()
                iri_kind, iri = self.take()
                if kind != "pname" or not name.endswith(":") or iri_kind != "iri":
                    raise SparqlError("PREFIX expects a name ending in ':' and an <IRI>")
                self.prefixes[name[:-1]] = iri[1:-1]
            else:
                return

    def projection(self) -> list[str] | None:
        """Selected variable names, or None for ``*``."""
        kind, text = self.peek()
        if kind != "word" or text.upper() != "SELECT":
            raise SparqlError(f"only SELECT queries are supported, not {text.upper() or 'an empty query'}")
        self.take()
        self.word("DISTINCT", "REDUCED")
        if self.word("*"):
            return None
        names = []
        while self.peek()[0] == "var":
            names.append(self.take()[1][1:])
        if not names:
            raise SparqlError("SELECT needs variables or *; expressions (… AS ?x) are not supported")
        return names

    def term(self) -> Term:
        kind, text = self.take()
        if kind == "var":
            return Term("var", text[1:])
        if kind == "iri":
            return Term("iri", text[1:-1])
        if kind == "pname":
            return Term("iri", self.expand(text))
        if kind == "word" and text == "a":
            return Term("iri", RDF_TYPE)
        if kind == "bnode":
            return Term("bnode", text[2:])
        if kind == "number":
            return Term("literal", text)
        if kind == "string":
            return self.literal(text)
        raise SparqlError(f"unexpected {_shown(text or 'end of query')} in the pattern")

    def literal(self, quoted: str) -> Term:
        value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), quoted[1:-1])
        if self.peek()[0] == "lang":
            self.take()
        elif self.peek()[0] == "datatype":
            self.take()
            self.term()  # the datatype IRI; the value's lexical form is what we use
        return Term("literal", value)

    def expand(self, pname: str) -> str:
        prefix, _, local = pname.partition(":")
        if prefix not in self.prefixes:
            raise SparqlError(f"unknown prefix {_shown(prefix + ':')}; declare it with PREFIX")
        return self.prefixes[prefix] + local

    def triples(self) -> list[tuple[Term, Term, Term]]:
        self.word("WHERE")
        self.expect("{")
        found: list[tuple[Term, Term, Term]] = []
        while not self.word("}"):
            if self.word("."):
                continue
            subject = self.term()
            self.predicate_objects(subject, found)
        return found

    def predicate_objects(self, subject: Term, found: list[tuple[Term, Term, Term]]) -> None:
        while True:
            verb = self.term()
            found.append((subject, verb, self.term()))
            while self.word(","):
                found.append((subject, verb, self.term()))
            if not self.word(";"):
                return
            if self.peek()[1] in (".", "}"):  # a trailing ';' is allowed
                return

    def modifiers(self) -> tuple[int | None, int]:
        limit, offset = None, 0
        while True:
            name = self.word("LIMIT", "OFFSET")
            if name is None:
                break
            kind, text = self.take()
            if kind != "number" or not WHOLE_NUMBER.fullmatch(text):
                raise SparqlError(f"{name} expects a whole number of at most {MAX_DIGITS} digits, "
                                  f"got {_shown(text)}")
            limit, offset = (int(text), offset) if name == "LIMIT" else (limit, int(text))
        if self.peek()[0] != "end":
            raise SparqlError(f"unsupported {_shown(self.peek()[1])} after the pattern (only LIMIT and OFFSET)")
        return limit, offset


def parse(query: str) -> ClipQuery:
    """The clip:Request pattern of ``query``; :class:`SparqlError` when it is not one."""
    parser = _Parser(query)
    parser.prologue()
    projection = parser.projection()
    triples = parser.triples()
    limit, offset = parser.modifiers()
    clip = _clip_query(triples)
    clip.limit, clip.offset = limit, offset
    clip.variables = projection if projection is not None else _pattern_variables(triples)
    return clip


def _pattern_variables(triples: list[tuple[Term, Term, Term]]) -> list[str]:
    names: list[str] = []
    for term in (t for triple in triples for t in triple):
        if term.kind == "var" and term.value not in names:
            names.append(term.value)
    return names


def _clip_query(triples: list[tuple[Term, Term, Term]]) -> ClipQuery:
    subjects = {subject for subject, _, _ in triples}
    if len(subjects) != 1:
        raise SparqlError("the pattern must describe exactly one clip:Request (one subject)")
    subject = next(iter(subjects))
    inputs: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for _, verb, obj in triples:
        _read_triple(verb, obj, inputs, outputs)
    if "queryString" not in inputs:
        raise SparqlError("the request needs clip:queryString \"text\"")
    return ClipQuery(text=inputs["queryString"], min_score=_min_score(inputs.get("minScore")), limit=None,
                     offset=0, variables=[], outputs=outputs,
                     request_var=subject.value if subject.kind == "var" else None)


def _read_triple(verb: Term, obj: Term, inputs: dict[str, str], outputs: dict[str, str]) -> None:
    if verb.kind != "iri":
        raise SparqlError("predicates must be IRIs (variables are not supported as predicates)")
    if verb.value == RDF_TYPE:
        if obj != Term("iri", CLIP + "Request"):
            raise SparqlError(f"the subject's type must be clip:Request, not {_shown(obj.value)}")
        return
    name = verb.value[len(CLIP):] if verb.value.startswith(CLIP) else None
    if name in INPUTS:
        if obj.kind != "literal":
            raise SparqlError(f"clip:{name} needs a literal value")
        inputs[name] = obj.value
    elif name in OUTPUTS:
        if obj.kind != "var":
            raise SparqlError(f"clip:{name} must be bound to a variable")
        outputs[name] = obj.value
    else:
        raise SparqlError(f"unsupported predicate {_shown(verb.value)}; supported: clip:"
                          + ", clip:".join((*INPUTS, *OUTPUTS)))


def _min_score(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SparqlError(f"clip:minScore must be a number, got {_shown(raw)}") from None
    if not math.isfinite(value):
        raise SparqlError(f"clip:minScore must be a finite number, got {_shown(raw)}")
    return value


def _shown(text: str) -> str:
    """A client's token as quoted in an error message, cut to a readable length."""
    return repr(text if len(text) <= 40 else text[:40] + "…")
