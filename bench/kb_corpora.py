#!/usr/bin/env python3
"""Builds the knowledge benchmark's corpora and queries from Debian's real data (stdlib only).

  kb_corpora.py linuxdoc OUT   linux-doc-6.1's reStructuredText, one Markdown file per .rst file
  kb_corpora.py gcide OUT      the 1913 Webster (dict-gcide), one Markdown file per headword
  kb_corpora.py linuxdoc-zh OUT  linux-doc-6.1's Chinese translations (translations/zh_CN), as
                               linuxdoc but with Chinese section titles as queries: OUT/titled
                               with OUT/queries.tsv (several per file), OUT/masked with
                               OUT/queries-masked.tsv (the first of them per file, so that one
                               heading per file reads "§" and targets stay unambiguous)

linuxdoc writes:
  OUT/rst/...        every .rst file, decompressed, untouched (for the ingest-throughput run)
  OUT/titled/...     every .rst file as Markdown: section titles (underlined lines) become ATX
                     headings at the level rST gives them, so the chunker keeps heading paths
  OUT/masked/...     the same, except that the heading of each query's section reads "§" (not a
                     word to the tokenizer nor to GloVe): the section must be found by its body
  OUT/queries.tsv    split, query, file (relative), heading path of the section (" > ")
gcide writes:
  OUT/entries/x/...  one file per headword (all its homograph entries), minus the held-out sense
                     of each query's headword
  OUT/queries.tsv    split, query, file (relative), "" (the whole document is the target)

Queries are drawn with a fixed seed: a "dev" split (for choosing alpha) and a disjoint "test"
split (what is reported). Nothing here looks at retrieval results.
"""
import argparse
import collections
import gzip
import os
import random
import re
import sys

LINUX_DOC = "/usr/share/doc/linux-doc-6.1/Documentation"
GCIDE_DICT = "/usr/share/dictd/gcide.dict.dz"
GCIDE_INDEX = "/usr/share/dictd/gcide.index"

ADORNMENT = re.compile(r"^([=\-~^\"'`#*+.:_<>!$%&,;/?@\\|])\1{2,}\s*$")
MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
WS = re.compile(r"\s+")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def tsv_field(s):
    return WS.sub(" ", s).strip()


# linux-doc ------------------------------------------------------------------------------------

def clean_inline(title):
    """rST inline markup to the text a reader sees."""
    t = re.sub(r"`([^`<]*?)\s*<[^>]*>`_{1,2}", r"\1", title)     # `text <url>`_
    t = re.sub(r":[\w:+-]+:`~?([^`]*)`", r"\1", t)                 # :role:`text`
    t = re.sub(r"``([^`]*)``", r"\1", t)                            # ``literal``
    t = re.sub(r"`([^`]*)`_{0,2}", r"\1", t)                        # `ref`_ or `interpreted`
    t = re.sub(r"\*\*([^*]+)\*\*", r"\1", t)
    t = re.sub(r"\*([^*]+)\*", r"\1", t)
    t = re.sub(r"(\w)_{1,2}(?=\s|$)", r"\1", t)                     # ref_
    return WS.sub(" ", t).strip()


def md_heading(level, text):
    # Escaped punctuation reaches the extractor literally, so the heading path is `text`.
    return "#" * level + " " + MD_PUNCT.sub(r"\\\1", text)


def md_body_line(line):
    """A body line that Markdown must not read as a heading, HTML block, setext underline or code
    fence. At any indentation: inside a list item an indented line is still a block's first line
    (so "    # cat file" is a heading there), and md4c 0.4.8 opens a fence even on a line indented
    4+ spaces that continues a paragraph, which then swallows the rest of the file. In code
    blocks the backslash shows; that costs nothing."""
    s = line.lstrip(" ")
    if s.startswith(("#", "<", "```", "~~~")) or re.match(r"^(=+|-+)\s*$", s):
        return line[: len(line) - len(s)] + "\\" + s
    return line


def parse_rst(text):
    """Lines and sections: [(line index of the title, title, style key, overline?)]."""
    lines = text.split("\n")
    sections = []
    i = 0
    n = len(lines)
    while i < n:
        # Overlined title: adornment, title, same adornment.
        if i + 2 < n and ADORNMENT.match(lines[i]) and lines[i + 1].strip() and ADORNMENT.match(lines[i + 2]) \
                and lines[i][0] == lines[i + 2][0] and not ADORNMENT.match(lines[i + 1]):
            sections.append((i, lines[i + 1].strip(), lines[i][0] + "o", 3))
            i += 3
            continue
        # Underlined title: a blank line (or the start), an unindented line, an adornment.
        if i + 1 < n and lines[i].strip() and not lines[i][0].isspace() and not ADORNMENT.match(lines[i]) \
                and ADORNMENT.match(lines[i + 1]) and (i == 0 or not lines[i - 1].strip()) \
                and len(lines[i + 1].rstrip()) >= min(len(lines[i].rstrip()), 4):
            sections.append((i, lines[i].strip(), lines[i + 1][0] + "u", 2))
            i += 2
            continue
        i += 1
    return lines, sections


def rst_to_markdown(text, mask_title_at=None):
    """Returns (markdown, [section dicts]). mask_title_at: line index (or a set of them) of titles
    to replace by §."""
    masked = set(mask_title_at) if isinstance(mask_title_at, (set, frozenset)) else {mask_title_at}
    lines, sections = parse_rst(text)
    styles = {}
    out = []
    info = []
    path = []  # (level, text) as the chunker keeps it
    at = {s[0]: s for s in sections}
    i = 0
    current = None
    while i < len(lines):
        if i in at:
            start, raw, style, span = at[i]
            level = min(styles.setdefault(style, len(styles) + 1), 6)
            title = clean_inline(raw) or raw
            shown = "§" if i in masked else title
            if len(path) >= level:
                del path[level - 1:]
            path.append(shown)
            out.append("")
            out.append(md_heading(level, shown) if shown != "§" else "#" * level + " §")
            out.append("")
            current = {"line": start, "title": title, "level": level, "path": list(path), "words": 0,
                       "index": len(info)}
            info.append(current)
            i += span
            continue
        line = lines[i]
        if re.match(r"^\.\. _[^:]*:\s*$", line) or re.match(r"^\.\. SPDX-License-Identifier", line):
            i += 1
            continue
        if current is not None:
            current["words"] += len(line.split())
        out.append(md_body_line(line))
        i += 1
    return "\n".join(out) + "\n", info


def norm_title(t):
    return WS.sub(" ", re.sub(r"[^\w]+", " ", t.lower())).strip()


def read_rst_tree(root):
    """{path relative to root without ".gz": text} for every .rst.gz under root, sorted."""
    files = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.endswith(".rst.gz"):
                files.append(os.path.relpath(os.path.join(dirpath, name), root)[:-3])
    texts = {}
    for rel in sorted(files):
        with gzip.open(os.path.join(root, rel + ".gz"), "rb") as f:
            texts[rel] = f.read().decode("utf-8", "replace").replace("\r\n", "\n").replace("\t", "        ")
    return texts


def build_linuxdoc(out, seed, n_test, n_dev):
    texts = read_rst_tree(LINUX_DOC)
    files = list(texts)
    for rel in files:
        write(os.path.join(out, "rst", rel), texts[rel])

    # Sections of the English files; titles that occur more than once anywhere are ambiguous
    # as queries ("Introduction", "Usage", ...) and are not asked.
    infos = {rel: rst_to_markdown(texts[rel])[1] for rel in files}
    counts = collections.Counter(norm_title(s["title"]) for rel in files for s in infos[rel])
    english = [rel for rel in files if not rel.startswith("translations/")]
    total_sections = sum(len(infos[r]) for r in english)
    eligible = {}
    for rel in english:
        cands = [s for s in infos[rel][1:]  # never the document's own title
                 if counts[norm_title(s["title"])] == 1 and s["words"] >= 20 and re.search(r"[A-Za-z]{2}", s["title"])]
        if cands:
            eligible[rel] = cands
    rng = random.Random(seed)
    chosen_files = sorted(eligible)
    rng.shuffle(chosen_files)
    chosen_files = chosen_files[: n_dev + n_test]
    queries = []
    mask = {}
    for k, rel in enumerate(chosen_files):
        s = rng.choice(eligible[rel])
        split = "dev" if k < n_dev else "test"
        queries.append((split, s["title"], rel, s))
        mask[rel] = s["line"]
    for rel in files:
        md, _ = rst_to_markdown(texts[rel])
        write(os.path.join(out, "titled", rel[:-4] + ".md"), md)
        md_masked, info_masked = rst_to_markdown(texts[rel], mask.get(rel))
        write(os.path.join(out, "masked", rel[:-4] + ".md"), md_masked)
    with open(os.path.join(out, "queries.tsv"), "w", encoding="utf-8") as f:
        f.write("split\tquery\tfile\theading_path\n")
        for split, title, rel, s in queries:
            f.write(f"{split}\t{tsv_field(title)}\t{rel[:-4]}.md\t{tsv_field(' > '.join(s['path']))}\n")
    stats = {
        "files": len(files), "english_files": len(english), "english_sections": total_sections,
        "sections_with_unique_titles": sum(1 for r in english for s in infos[r] if counts[norm_title(s["title"])] == 1),
        "files_with_an_eligible_section": len(eligible), "queries": len(queries),
    }
    print(" ".join(f"{k}={v}" for k, v in stats.items()))


CJK = re.compile(r"[\u4e00-\u9fff]")
ZH_ROOT = "translations/zh_CN"


def build_linuxdoc_zh(out, seed, n_test, n_dev):
    """Chinese titles of the zh_CN translations; several queries per file (230 files only), each
    section title unique among the Chinese files, with Chinese characters and a body."""
    texts = read_rst_tree(os.path.join(LINUX_DOC, ZH_ROOT))
    files = list(texts)
    infos = {rel: rst_to_markdown(texts[rel])[1] for rel in files}
    counts = collections.Counter(norm_title(s["title"]) for rel in files for s in infos[rel])
    eligible = [(rel, s) for rel in files for s in infos[rel][1:]
                if counts[norm_title(s["title"])] == 1 and CJK.search(s["title"]) and s["words"] >= 5]
    rng = random.Random(seed)
    rng.shuffle(eligible)
    chosen = eligible[: n_dev + n_test]
    n_dev = min(n_dev, len(chosen) // 4)  # a small corpus: keep three quarters for the test split
    queries = []
    for k, (rel, s) in enumerate(chosen):
        queries.append(("dev" if k < n_dev else "test", s["title"], rel, s))
    masked_queries, mask = [], {}
    for q in queries:
        if q[2] not in mask:
            mask[q[2]] = q[3]["line"]
            masked_queries.append(q)
    n_masked_dev = len(masked_queries) // 4  # split anew: a quarter dev, the rest test
    masked_queries = [("dev" if k < n_masked_dev else "test",) + q[1:] for k, q in enumerate(masked_queries)]
    for rel in files:
        write(os.path.join(out, "titled", rel[:-4] + ".md"), rst_to_markdown(texts[rel])[0])
        write(os.path.join(out, "masked", rel[:-4] + ".md"), rst_to_markdown(texts[rel], mask.get(rel))[0])
    for name, qs in (("queries.tsv", queries), ("queries-masked.tsv", masked_queries)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write("split\tquery\tfile\theading_path\n")
            for split, title, rel, s in qs:
                f.write(f"{split}\t{tsv_field(title)}\t{rel[:-4]}.md\t{tsv_field(' > '.join(s['path']))}\n")
    print(f"files={len(files)} sections={sum(len(i) for i in infos.values())} eligible_sections={len(eligible)} "
          f"queries={len(queries)} dev={n_dev} masked_queries={len(masked_queries)} "
          f"masked_dev={sum(1 for q in masked_queries if q[0] == 'dev')}")


# gcide ----------------------------------------------------------------------------------------

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
SOURCE_TAG = re.compile(r"\[(?:1913 Webster|Webster 1913 Suppl\.|PJC|WordNet 1\.5|[^\]]*?(?:Webster|AS|PJC|WordNet)[^\]]*?)\]")
SENSE = re.compile(r"^ {0,6}(\d+)\. ")


def b64(s):
    v = 0
    for c in s:
        v = v * 64 + B64.index(c)
    return v


def headword_of(block):
    m = re.match(r"\s*([^\\\n]+?)\s*\\", block)
    return (m.group(1) if m else block.strip().split("\n")[0][:60]).strip()


def paragraphs(block):
    # A block's last line sometimes carries the next headword after its source tag: drop it.
    block = re.sub(r"(\])[ \t]+[^\s\[\]]+\s*$", r"\1", block.rstrip())
    return [p for p in re.split(r"\n\s*\n", block.strip("\n")) if p.strip()]


def clean_entry_text(text):
    """Source tags ([1913 Webster]) out; lines unindented so Markdown keeps them as text."""
    text = SOURCE_TAG.sub("", text)
    out = []
    for line in text.split("\n"):
        out.append(md_body_line(line.strip()))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def definition_query(paragraph, headword):
    """The definition a reader gives: number, field label, citations and source tags removed, and
    the headword itself (and words that start with it) left out, as a reverse-dictionary query."""
    t = SOURCE_TAG.split(paragraph, maxsplit=1)[0]         # the sense ends at its source tag
    t = WS.sub(" ", t)
    t = SENSE.sub("", t.lstrip())
    t = re.sub(r"^\s*(\([^)]{1,40}\)\s*)+", "", t)        # (Zool.) (Anat.) field labels
    t = re.sub(r"--\s?[A-Z][^\s,;]*(\s[A-Z][^\s,;]*)*", "", t)  # --Author. citations
    t = re.sub(r"[{}]", "", t)
    hw = headword.lower()
    words = [w for w in t.split() if not re.sub(r"[^\w]", "", w.lower()).startswith(hw)]
    return WS.sub(" ", " ".join(words[:60])).strip()


def is_quotation(paragraph):
    first = paragraph.split("\n", 1)[0]
    return len(first) - len(first.lstrip(" ")) >= 8


def held_out(paragraphs_of_block, sense_index):
    """The held-out sense and the quotations that illustrate it."""
    out = {sense_index}
    k = sense_index + 1
    while k < len(paragraphs_of_block) and is_quotation(paragraphs_of_block[k]):
        out.add(k)
        k += 1
    return out


def build_gcide(out, seed, n_test, n_dev):
    with gzip.open(GCIDE_DICT, "rb") as f:
        data = f.read()
    spans = set()
    with open(GCIDE_INDEX, encoding="utf-8") as f:
        for line in f:
            hw, off, length = line.rstrip("\n").split("\t")
            if not hw.startswith("00-database"):
                spans.add((b64(off), b64(length)))
    by_head = collections.OrderedDict()  # lowercase headword -> (shown headword, [blocks])
    for off, length in sorted(spans):
        block = data[off:off + length].decode("utf-8", "replace")
        hw = headword_of(block)
        by_head.setdefault(hw.lower(), (hw, []))[1].append(block)

    names = {}
    used = set()
    for key in by_head:
        slug = re.sub(r"[^a-z0-9]+", "-", key).strip("-") or "x"
        slug = slug[:80]
        name, k = slug, 1
        while name in used:
            k += 1
            name = f"{slug}-{k}"
        used.add(name)
        names[key] = f"entries/{name[0]}/{name}.md"

    # Query candidates: single-word headwords whose entry has at least two numbered senses; the
    # query sense is held out of the indexed entry.
    cands = []
    for key, (hw, blocks) in by_head.items():
        if not re.fullmatch(r"[a-z]{3,}", key):
            continue
        senses = []
        for bi, block in enumerate(blocks):
            for pi, p in enumerate(paragraphs(block)):
                if SENSE.match(p):
                    senses.append((bi, pi, p))
        if len(senses) >= 2:
            cands.append((key, senses))
    rng = random.Random(seed)
    rng.shuffle(cands)
    held = {}
    queries = []
    for key, senses in cands:
        if len(queries) >= n_dev + n_test:
            break
        order = list(senses)
        rng.shuffle(order)
        for bi, pi, p in order:
            q = definition_query(p, key)
            if len(q.split()) >= 4:
                split = "dev" if len(queries) < n_dev else "test"
                queries.append((split, q, names[key]))
                held[key] = (bi, pi)
                break
    for key, (hw, blocks) in by_head.items():
        parts = []
        for bi, block in enumerate(blocks):
            ps = paragraphs(block)
            if key in held and held[key][0] == bi:
                drop = held_out(ps, held[key][1])
                ps = [p for pi, p in enumerate(ps) if pi not in drop]
            parts.append("\n\n".join(ps))
        write(os.path.join(out, names[key]), md_heading(1, hw) + "\n\n" + clean_entry_text("\n\n".join(parts)))
    with open(os.path.join(out, "queries.tsv"), "w", encoding="utf-8") as f:
        f.write("split\tquery\tfile\theading_path\n")
        for split, q, name in queries:
            f.write(f"{split}\t{tsv_field(q)}\t{name}\t\n")
    print(f"entries={len(spans)} headwords={len(by_head)} candidates_with_2+_senses={len(cands)} queries={len(queries)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", choices=["linuxdoc", "gcide", "linuxdoc-zh"])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--dev", type=int, default=200)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.corpus == "linuxdoc":
        build_linuxdoc(a.out, a.seed, a.test, a.dev)
    elif a.corpus == "linuxdoc-zh":
        build_linuxdoc_zh(a.out, a.seed, a.test, a.dev)
    else:
        build_gcide(a.out, a.seed, a.test, a.dev)
    return 0


if __name__ == "__main__":
    sys.exit(main())
