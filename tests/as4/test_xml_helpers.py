"""`as4._xml`'s child look-ups give what lxml's own find/findall give."""

from __future__ import annotations

from lxml import etree

from as4._xml import along, along_in, by_tag, children, first, first_of

DOC = b"""<r xmlns="urn:a" xmlns:b="urn:b"><!-- c --><x>1</x><?pi d?><b:x>2</b:x><y><z/></y><x>3</x>
<y><z>4</z><z>5</z></y>text</r>"""


def test_by_tag_is_children_of_every_tag_in_document_order():
    root = etree.fromstring(DOC)
    kids = by_tag(root)
    tags = ["{urn:a}x", "{urn:b}x", "{urn:a}y", "{urn:a}z", "{urn:a}absent"]
    for tag in tags:
        assert kids.get(tag, []) == children(root, tag) == root.findall(tag)
        assert first_of(kids, tag) is first(root, tag)
    assert [el.text for el in kids["{urn:a}x"]] == ["1", "3"]
    assert set(kids) == {"{urn:a}x", "{urn:b}x", "{urn:a}y"}  # comment and processing instruction skipped


def test_along_is_findall_of_the_path():
    root = etree.fromstring(DOC)
    assert list(along(root, "{urn:a}y", "{urn:a}z")) == root.findall("{urn:a}y/{urn:a}z")


def test_along_in_is_findall_of_the_path_from_a_by_tag_map():
    root = etree.fromstring(DOC)
    kids = by_tag(root)
    for path in (("{urn:a}y", "{urn:a}z"), ("{urn:a}x",), ("{urn:a}absent", "{urn:a}z")):
        assert list(along_in(kids, *path)) == root.findall("/".join(path))
