"""Trimming the official Schematron XSLT of work that cannot change a finding, before compiling it.

The official rules are Schematron compiled by the ISO skeleton. Besides the
findings (svrl:failed-assert, svrl:successful-report), that skeleton makes every
run write a trace: an svrl:fired-rule element for every node a rule matched, and
per pattern an svrl:active-pattern element whose body walks the whole document a
second time in the unnamed mode (`<xsl:apply-templates/>`), which in these
stylesheets only reaches the built-in rules and the empty `text()` rule, so it
outputs nothing. The output is also indented. We read only the findings, and
producing, serialising and re-parsing the trace was about a quarter of the time
of a validation (PEPPOL-EN16931-UBL has 13 patterns, so 13 idle walks).

What is removed never decides a finding: an assert's test, its location and
text, the rule order within a mode and every template stay as shipped. Each
removal is guarded: an svrl:fired-rule only when it holds nothing but attributes
and text, the active-pattern walks only when the stylesheet's unnamed mode has no
template that could output something (only the skeleton's `/` and empty
`text()` rules, no xsl:mode, no import or include that could add some).

Two more rewrites cut the cost of the per-pattern walks themselves (each
pattern is a mode that the skeleton carries through the whole tree):
`skip_attribute_visits` stops visiting attributes in patterns with no rule for
them, and `select_rule_candidates` starts a pattern whose rules all name their
element on just those elements, in document order, so the same rules fire in
the same order. Any stylesheet shape these functions do not recognise is left
as shipped. tests/ubl/test_svrl_trim.py compares findings with the shipped
stylesheets; at the time of writing all 8,792 official document/stylesheet runs
agreed.
"""

from __future__ import annotations

import re

from lxml import etree

__all__ = ["select_rule_candidates", "skip_attribute_visits", "trim_svrl_trace"]

XSL = "http://www.w3.org/1999/XSL/Transform"
SVRL = "http://purl.oclc.org/dsdl/svrl"


def trim_svrl_trace(root: etree._Element) -> int:
    """Remove the SVRL trace from the stylesheet `root` (in place); how many elements went."""
    removed = 0
    for fired in list(root.iter(f"{{{SVRL}}}fired-rule")):
        if all(child.tag == f"{{{XSL}}}attribute" for child in fired.iterchildren(tag=etree.Element)):
            fired.getparent().remove(fired)
            removed += 1
    if _unnamed_mode_is_silent(root):
        for active in list(root.iter(f"{{{SVRL}}}active-pattern")):
            if all(_is_attribute_or_default_walk(child) for child in active.iterchildren(tag=etree.Element)):
                active.getparent().remove(active)
                removed += 1
    for output in root.iterchildren(f"{{{XSL}}}output"):
        if output.get("indent") == "yes" and output.get("name") is None:
            output.set("indent", "no")
    return removed


def _is_attribute_or_default_walk(el: etree._Element) -> bool:
    if el.tag == f"{{{XSL}}}attribute":
        return True
    # <xsl:apply-templates/>: the children of the context, unnamed mode, no parameters
    return el.tag == f"{{{XSL}}}apply-templates" and not el.attrib and len(el) == 0 and not (el.text or "").strip()


def _unnamed_mode_is_silent(root: etree._Element) -> bool:
    """True when the unnamed mode has only the skeleton's `/` rule and an empty `text()` rule."""
    if root.tag != f"{{{XSL}}}stylesheet" and root.tag != f"{{{XSL}}}transform":
        return False
    if root.xpath("boolean(//@default-mode | //@xsl:default-mode)", namespaces={"xsl": XSL}):
        return False  # XSLT 3.0: <xsl:apply-templates/> may then mean another mode
    for el in root.iterchildren(tag=etree.Element):
        if el.tag in (f"{{{XSL}}}import", f"{{{XSL}}}include", f"{{{XSL}}}use-package"):
            return False
        if el.tag == f"{{{XSL}}}mode" and el.get("name") in (None, "#unnamed", "#default"):
            return False
        if el.tag != f"{{{XSL}}}template" or el.get("match") is None:
            continue
        modes = (el.get("mode") or "#default").split()
        if not {"#default", "#unnamed", "#all"} & set(modes):
            continue
        match = el.get("match").strip()
        if match == "/":
            continue  # applied only to the document node, which a child walk never selects
        if match == "text()" and len(el) == 0 and not (el.text or "").strip():
            continue
        return False
    return True


_PATTERN_OK = re.compile(r"[\w:*/|().\s-]*")
_BARE_DOT = re.compile(r"(^|[|/(\s])\.($|[|/)\s])")


def _steps(pattern: str) -> str | None:
    """The pattern without string literals and predicates (only the steps decide what can match)."""
    depth, quote, outer = 0, "", []
    for ch in pattern:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            outer.append(ch)
    steps = "".join(outer)
    if depth or quote or not _PATTERN_OK.fullmatch(steps) or _BARE_DOT.search(steps):
        return None
    return steps


def _cannot_match_attributes(pattern: str) -> bool:
    """True when the match pattern surely matches no attribute node (conservative)."""
    steps = _steps(pattern)
    if steps is None:
        return False
    lowered = steps.lower()
    return not any(s in lowered for s in ("attribute", "key(", "id(", "doc(", "node()", "root(", "$"))


def skip_attribute_visits(root: etree._Element) -> int:
    """In a pattern no rule of which can match an attribute, walk elements only; how many modes.

    The skeleton carries each pattern through the document with
    `<xsl:apply-templates mode="M" select="@*|*"/>`, visiting every attribute in
    every pattern, though most patterns have no rule for attributes: there an
    attribute meets only the catch-all template, which recurses into the
    attribute's (empty) `@*|*` and outputs nothing. Saxon builds a node object
    for each attribute visit, the costliest visits of the walk. For such modes
    `select="*"` visits exactly the nodes that can fire a rule.
    """
    modes: dict[str, bool] = {}
    for t in root.iterchildren(f"{{{XSL}}}template"):
        mode, match = t.get("mode"), (t.get("match") or "").strip()
        if mode is None or not match:
            continue
        if "#all" in mode.split():
            return 0  # a template in every mode: leave every walk as shipped
        if len(mode.split()) != 1 or mode.startswith("#"):
            for m in mode.split():
                modes[m] = False
            continue
        catch_all = match in ("@*|node()", "text()")
        modes[mode] = modes.get(mode, True) and (catch_all or _cannot_match_attributes(match))
    changed = set()
    for a in root.iter(f"{{{XSL}}}apply-templates"):
        mode = a.get("mode")
        if a.get("select") == "@*|*" and modes.get(mode) and mode is not None:
            a.set("select", "*")
            changed.add(mode)
    return len(changed)


_NAME_STEP = re.compile(r"(?:child::)?([A-Za-z_][\w.-]*):([A-Za-z_][\w.-]*)")


def _final_element_names(template: etree._Element) -> set[str] | None:
    """`Q{uri}local` of every element name a rule's pattern can match, or None when not that simple."""
    steps = _steps(template.get("match") or "")
    if steps is None:
        return None
    steps = steps.strip()
    if steps.startswith("(") and steps.endswith(")"):
        steps = steps[1:-1]
    if "(" in steps or ")" in steps or "$" in steps:
        return None
    names = set()
    for branch in steps.split("|"):
        last = re.split(r"/+", branch.strip())[-1].strip()
        m = _NAME_STEP.fullmatch(last)
        uri = m and template.nsmap.get(m.group(1))
        if not uri:
            return None  # a wildcard, an unprefixed name, "/", another axis: keep the walk
        names.add(f"Q{{{uri}}}{m.group(2)}")
    return names


def _is_recursion(el: etree._Element, mode: str) -> bool:
    return (el.tag == f"{{{XSL}}}apply-templates" and set(el.attrib) == {"mode", "select"}
            and el.get("mode") == mode and el.get("select") in ("@*|*", "*") and len(el) == 0)


def select_rule_candidates(root: etree._Element) -> int:
    """Start a pattern on just the elements its rules name, not a walk of the whole tree; how many modes.

    Where every rule of a pattern ends its match pattern in a prefixed element
    name (`cac:Party`, `a/b[...] | c/d`), only elements of those names can fire a
    rule; the skeleton still visits every node, each visit a rule lookup that ends
    in the catch-all. Such a pattern is started instead with
    `/descendant::a | /descendant::b ...` (in document order, as the walk reached
    them, each rule outputting before it recursed) and its templates no longer
    recurse, so each candidate fires the same rule as before and the findings
    come out in the same order. Patterns with a wildcard or anything unusual keep
    the shipped walk.
    """
    top = [t for t in root.iterchildren(f"{{{XSL}}}template") if t.get("match") == "/" and t.get("mode") is None]
    if len(top) != 1:
        return 0
    drivers = {a.get("mode"): a for a in top[0].iter(f"{{{XSL}}}apply-templates")
               if a.get("mode") is not None and a.get("select") == "/" and set(a.attrib) == {"mode", "select"} and not len(a)}
    templates: dict[str, list[etree._Element]] = {}
    for t in root.iterchildren(f"{{{XSL}}}template"):
        for mode in (t.get("mode") or "").split():
            if mode == "#all":
                return 0
            templates.setdefault(mode, []).append(t)
    entries = [a.get("mode") for a in root.iter(f"{{{XSL}}}apply-templates")]
    changed = 0
    for mode, driver in drivers.items():
        plan, names = [], set()
        for t in templates.get(mode, []):
            match = (t.get("match") or "").strip()
            children = list(t.iterchildren(tag=etree.Element))
            if t.get("mode") != mode or t.get("name") is not None:
                break
            if match == "text()" and not children and not (t.text or "").strip():
                continue
            if not children or not _is_recursion(children[-1], mode):
                break
            if any(True for _ in t.iter(f"{{{XSL}}}next-match", f"{{{XSL}}}apply-imports", f"{{{XSL}}}param")):
                break
            if any(a.get("mode") in (mode, "#current") for a in t.iter(f"{{{XSL}}}apply-templates") if a is not children[-1]):
                break
            if match == "@*|node()" and len(children) == 1:
                plan.append((t, children[-1]))
                continue
            found = _final_element_names(t)
            if found is None:
                break
            names |= found
            plan.append((t, children[-1]))
        else:
            # entered only by the driver and the templates' own recursion
            if not names or entries.count(mode) != 1 + len(plan):
                continue
            for t, recursion in plan:
                t.remove(recursion)
            driver.set("select", " | ".join(f"/descendant::{n}" for n in sorted(names)))
            changed += 1
    return changed
