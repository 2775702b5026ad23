"""Driving pages the way a person does, without racing the page.

Playwright's `click` no longer waits for the navigation it starts (1.5x made `no_wait_after` the
default), so a test that reads the page right after a click that submits a form or follows a link
reads the *old* page: on a loaded machine that old page is all it ever sees. Every click that
navigates goes through `follow`, which returns only once the new page has loaded; checks of what
a page shows use Playwright's retrying `expect`.
"""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

__all__ = ["expect", "follow"]


def follow(page: Page, target: str | Locator) -> None:
    """Click `target` (a selector or a locator) and wait until the page it leads to has loaded.

    A form POST answered with a redirect counts as one navigation: the wait ends on the page the
    redirect leads to, so the rows, flashes and states asserted next are the server's answer.
    """
    locator = page.locator(target) if isinstance(target, str) else target
    with page.expect_navigation(wait_until="load"):
        locator.click()
