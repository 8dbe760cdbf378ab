"""Content checks on a parsed passage: empty, too short or long, junk (invisible characters, styled text,
markup, JSON, the model talking about its task, words that are not words of the corpus, an unfinished
sentence, loops), a copy of the positive, the prompt's example, the query or another negative."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable

from syneg.synthesis.attributes import MAX_WORDS, STOPWORDS

MIN_WORDS = 12
LENGTH_FACTOR = 4  # a passage over this many times the words asked for (the call's target) is rejected
WORD_CHARS = 16  # ... or over that many words of this many characters (one endless "word" is junk too)
COPY_THRESHOLD = 0.6  # share of the passage's word trigrams found in the positive
DUPLICATE_THRESHOLD = 0.8  # Jaccard of word sets between two negatives of one pair
QUERY_SHARE = 0.5  # a passage whose tokens are mostly the query's terms copies it ...
COPIED_SHARE = 1 / 3  # ... as does one a third of which is the query, word for word

REPETITION_THRESHOLD = 0.75  # minimum share of distinct word trigrams (loops fall below)
# Measured on SciFact and NFCorpus abstracts (40-word chunks): in 99.9% of them at least 0.38 of the
# tokens are words (>= 2 letters, no digit; tables of numbers go lower) and, against the vocabulary of
# the other half of the corpus, at least 0.59 of the words are known. All checks together reject 0.2-0.3%
# of the chunks (cut abstracts, tables, stray entities). Lorem ipsum, letters, numbers, base64, CJK,
# Cyrillic or German prose fall far below.
WORD_SHARE = 1 / 3
KNOWN_SHARE = 0.5

_TOKEN = re.compile(r"\w+")
COPIED_RUN = 6  # a query of this many tokens or more found word for word in a passage was copied (a shorter
# one is a topic that a negative may name)
# Characters that do not show: controls (but tab and newline; ANSI escapes start with ESC), format
# characters (zero-width, bidirectional, soft hyphen, tags), private use, unassigned and noncharacters,
# lone surrogates, line/paragraph separators ...
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})
# ... and blank "letters" and marks: Hangul fillers, the combining grapheme joiner, Mongolian and
# standard variation selectors, Khmer inherent vowels, the braille blank
_HIDDEN = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0") | frozenset(
    map(chr, [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]))
# Text dressed up with Unicode: a base character under a stack of combining marks (Zalgo), emoji and
# pictographs (the degree, trademark and sex signs and the arrows of abstracts aside)
MAX_MARKS = 2
_SCIENCE_SYMBOLS = frozenset("\u00b0\u00a9\u00ae\u2122\u2103\u2109\u2640\u2642") | frozenset(
    map(chr, range(0x2190, 0x2200)))
# HTML/XML tags, comments, declarations and entities; code fences
_MARKUP = re.compile(r"</?[A-Za-z][\w:-]*(?:\s+[\w:-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))*\s*/?>"
                     r"|<!--|<![A-Za-z]|<\?[A-Za-z]|```|&(?:#\d+|#x[0-9a-f]+|[a-z]{2,8});"
                     # Markdown headings, bullets and bold; links
                     r"|^#{1,6}\s|^\s*[*-]\s|\*\*[^*\n]+\*\*|__[^_\n]+__|\bhttps?://|\bwww\.\w",
                     re.IGNORECASE | re.MULTILINE)
# JSON as (or in) the passage: it opens like JSON, holds an object ({"key": ...}) or names a schema key
_JSON_TEXT = re.compile(r"^\s*(?:\{|\[\s*[{\[\"])|\{\s*\\?[\"'][^\"'\n]{1,60}\\?[\"']\s*:"
                        r"|\\?[\"'](?:reasoning|passage|negative|query|text)\\?[\"']\s*:", re.IGNORECASE)
# The model talking about the task instead of writing a passage: anywhere ...
_META = re.compile(
    r"\b(this|the|a) (hard negative|query|search engine)\b|\bas an ai\b|\bi am an ai\b|\bhard negative\b"
    r"|\bthis passage\b(?! numbers?\b)|\bthe passage (?:above|below|should|must|will|is about|discusses|describes)\b"
    r"|\bkey terms of the (query|request|prompt)\b|\bside aspect\b"
    # ... or about the passages it was shown (a continuation or rewrite commenting on its source)
    r"|\b(?:the|this) (?:retrieved|relevant|positive|original|given) (?:passage|text|document)\b"
    # placeholders and instructions to the reader (prompt injection)
    r"|\[[^\]\n]*\b(?:insert|placeholder)\b[^\]\n]*\]|\[\s*(?:\.\.\.|\u2026)\s*\]"
    r"|\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier)\s+"
    r"(?:instructions|prompts?|messages?|rules)\b"
    r"|\b(?:rank|rate|score|list|place|put)\s+(?:this|the)\s+(?:document|passage|text|page|result)\s+"
    r"(?:first|highest|higher|top|as relevant)\b",
    re.IGNORECASE,
)
# ... or at the start: an interjection, the first person, a preamble or a plan
_META_START = re.compile(
    r"^\W*(?:(?:okay|ok|alright|sure|certainly|hmm+|sorry|as an? (?:ai|assistant|language model))\b"
    r"|unfortunately\W+(?:i|we|as an?|this (?:request|task))\b"
    r"|(?:so|well|right|of course|all right)\s*[,.!:]|i\s+(?:cannot|can['\u2019]?t|can not|won['\u2019]t|am sorry)\b"
    r"|(?:passage|text|answer|output|response|result|negative)\s*:"
    r"|i\s+(?:will|would|shall|should|can|could|must|need|have to|am|want|think|guess|believe|hope|understand)\b"
    r"|i['\u2019](?:m|ll|ve|d)\b|(?:let me|let's|let us|here is|here's|here are|below is)\b"
    r"|the following\s+(?:is|passage|text)\b|(?:my|our|the) task (?:is|was|here)\b|my (?:goal|job|draft)\b"
    r"|(?:this|in this) (?:passage|text|paragraph|response|answer|draft|negative)\b"
    r"|it (?:shares|reuses|mentions|uses the|goes on|continues|does not (?:answer|address|support|refute))\b"
    r"|(?:first|to (?:write|create|craft|do) this)\b[\s,]+(?:i|let)\b"
    r"|we (?:need|have|will|must|should|are going) to (?:now )?(?:write|create|craft|produce|generate|come up))",
    re.IGNORECASE,
)
# A finished passage ends a sentence (a closing quote or bracket may follow)
_FINISHED = re.compile(r"[.!?\u3002\uff01\uff1f][\"'\u201d\u2019\u00bb)\]]*\s*$")
# ... not with an ellipsis or a filler that trails off ("and so on." ends a sentence of real prose)
_TRAILING = re.compile(r"(?:\.\.\.|\u2026|\betc\b\.?|\band so (?:on|forth)\b)[\"'\u201d\u2019\u00bb)\]]*\s*$",
                       re.IGNORECASE)
# Letters of other scripts drawn like Latin ones are homoglyphs inside a Latin word; Greek letters are
# common in scientific words (TNFα, Aβ), except those drawn like Latin ones
_WITH_LATIN = frozenset({"LATIN", "GREEK", "MICRO", "MODIFIER", "MASCULINE", "FEMININE"})
_GREEK_LOOKALIKES = frozenset("\u03bf\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(max(0, len(words) - n + 1))} or {tuple(words)}


def copy_ratio(passage: str, reference: str) -> float:
    """Share of the passage's word trigrams that also occur in ``reference`` (1.0 = copied)."""
    mine, theirs = _ngrams(tokens(passage), 3), _ngrams(tokens(reference), 3)
    return len(mine & theirs) / len(mine) if mine else 0.0


def distinct_ratio(passage: str) -> float:
    """Distinct word trigrams over all trigrams (1.0 = no repeated phrase)."""
    words = tokens(passage)
    total = max(1, len(words) - 2)
    return len(_ngrams(words, 3)) / total


def jaccard(a: str, b: str) -> float:
    sa, sb = set(tokens(a)), set(tokens(b))
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds a character that does not show (a control other than tab and newline, a
    format, private-use or unassigned character, a filler letter or a variation selector) or a space other
    than the plain one (no-break, em, ideographic)."""
    return any(char in _HIDDEN or (unicodedata.category(char) in _HIDDEN_CATEGORIES and char not in "\t\n")
               or (char.isspace() and char not in " \t\n") for char in text)


def styled_text(text: str) -> bool:
    """True when ``text`` stacks over ``MAX_MARKS`` combining marks on a character (Zalgo) or holds emoji
    or other pictographs."""
    marks = 0
    for char in text:
        category = unicodedata.category(char)
        marks = marks + 1 if category in ("Mn", "Me") else 0
        if marks > MAX_MARKS or (category == "So" and char not in _SCIENCE_SYMBOLS) or (
                category == "Sk" and ord(char) > 0x2FF):
            return True
    return False


def too_long(text: str, target_words: int) -> bool:
    """Over ``LENGTH_FACTOR`` times ``target_words`` words, or over ``WORD_CHARS`` characters a word."""
    return len(text.split()) > LENGTH_FACTOR * target_words or len(text) > WORD_CHARS * LENGTH_FACTOR * target_words


def mixed_script(word: str) -> bool:
    """True for a Latin word with letters of another script drawn alike (Cyrillic 'а' in 'cаse') and for a
    word of styled letters (fullwidth 'ｃ', mathematical bold '𝐜')."""
    if word.isascii():
        return False
    if any(char.isalpha() and char != "\u00b5" and unicodedata.normalize("NFKC", char) != char for char in word):
        return True  # a compatibility form: fullwidth, mathematical bold or script letters
    scripts = {unicodedata.name(char, "?").split(" ", 1)[0] for char in word if char.isalpha()}
    return "LATIN" in scripts and (bool(scripts - _WITH_LATIN) or any(char in _GREEK_LOOKALIKES for char in word))


def language_reason(words: list[str], vocabulary: Collection[str] | None) -> str | None:
    """``mixed_script``, ``not_words`` (mostly numbers, single letters, codes) or ``off_vocabulary`` (under
    ``KNOWN_SHARE`` of the words in ``vocabulary``; not checked without one); None for prose."""
    if any(mixed_script(word) for word in words):
        return "mixed_script"
    real = [word for word in words if len(word) > 1 and word.isalpha()]
    if len(real) < WORD_SHARE * len(words):
        return "not_words"
    if vocabulary is not None and sum(word in vocabulary for word in real) < KNOWN_SHARE * len(real):
        return "off_vocabulary"
    return None


def opens_with_meta(text: str) -> bool:
    """True when ``text`` opens like the model talking about its task (a preamble, the first person, "it
    shares ..."): checked on a passage and, in continue mode, on the text the model wrote after the opening."""
    return bool(_META_START.search(text))


def _junk_reason(passage: str, words: list[str], target_words: int, vocabulary: Collection[str] | None) -> str | None:
    if too_long(passage, target_words):
        return "too_long"
    if has_control_characters(passage):
        return "control_characters"
    if styled_text(passage):
        return "styled_text"
    if _MARKUP.search(passage):
        return "markup"
    if _JSON_TEXT.search(passage):
        return "json_text"
    if _META.search(passage) or _META_START.search(passage):
        return "meta_text"
    reason = language_reason(words, vocabulary)
    if reason is None and (not _FINISHED.search(passage) or _TRAILING.search(passage)):
        reason = "unfinished"
    if reason is None and distinct_ratio(passage) < REPETITION_THRESHOLD:
        reason = "repetitive"
    return reason


def _without(words: list[str], run: list[str]) -> list[str]:
    """``words`` with every occurrence of the sequence ``run`` taken out."""
    kept, index = [], 0
    while index < len(words):
        if words[index : index + len(run)] == run:
            index += len(run)
        else:
            kept.append(words[index])
            index += 1
    return kept


def copies_query(words: list[str], query: str, min_words: int = MIN_WORDS) -> bool:
    """True when the query's terms (stopwords aside) make up most of the passage, or it holds the whole query
    word for word: one of ``COPIED_RUN`` tokens or more, or copies that make up a third of it or leave fewer
    than ``min_words`` tokens."""
    asked = tokens(query)
    if not asked:
        return False
    terms = set(asked) - STOPWORDS
    if sum(word in terms for word in words) >= QUERY_SHARE * len(words):
        return True
    rest = len(_without(words, asked))
    return rest < len(words) and (
        len(asked) >= COPIED_RUN or rest < min_words or len(words) - rest >= COPIED_SHARE * len(words))


def check_passage(
    passage: str,
    positive: str,
    query: str,
    others: Iterable[str] = (),
    min_words: int = MIN_WORDS,
    examples: Iterable[str] = (),
    target_words: int = MAX_WORDS,
    vocabulary: Collection[str] | None = None,
) -> str | None:
    """The reason to reject ``passage``, or None when it is usable (``target_words``: the length asked for;
    ``vocabulary``: the words of the corpus, see :mod:`syneg.synthesis.vocabulary`)."""
    words = tokens(passage)
    if not words:
        return "empty"
    if len(words) < min_words:
        return "too_short"
    reason = _junk_reason(passage, words, target_words, vocabulary)
    if reason is not None:
        return reason
    if copy_ratio(passage, positive) >= COPY_THRESHOLD or jaccard(passage, positive) >= DUPLICATE_THRESHOLD:
        return "copies_positive"
    if any(copy_ratio(passage, example) >= COPY_THRESHOLD / 2 for example in examples):
        return "copies_example"
    if jaccard(passage, query) >= DUPLICATE_THRESHOLD or copies_query(words, query, min_words):
        return "copies_query"
    if any(jaccard(passage, other) >= DUPLICATE_THRESHOLD for other in others):
        return "duplicate"
    return None


def check_reasoning(reasoning: str, target_words: int = MAX_WORDS) -> str | None:
    """The reason to reject a reply for its ``reasoning`` (written beside the passage): too long, hidden characters."""
    if too_long(reasoning, target_words):
        return "too_long"
    if has_control_characters(reasoning):
        return "control_characters"
    return None
