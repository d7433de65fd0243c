"""Every page of the sidebar, every level and every tab, in Chromium at 1280x800 and 800x1000:
nothing scrolls the page sideways, no console error, no serious or critical accessibility
violation (axe-core from the npm registry, see package.json); the menu, the theme, the sticky
table header, the transcript search and the sync bands as a researcher meets them.
Screenshots of every page at both widths land in test-artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from data_browser import datatypes as T
from data_browser.presentations import drift_band
from tests.conftest import ARTIFACTS, browser_login

pytestmark = [pytest.mark.browser]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"wide": (1280, 800), "narrow": (800, 1000)}


def owner_pages(world) -> list[tuple[str, str]]:
    e, r = world.experiment.public_id, world.room.public_id
    p = world.participant.public_id
    pages = [
        ("experiments", "/"),
        ("experiment", f"/e/{e}/"),
        ("experiment_quality", f"/e/{e}/quality/"),
        ("room", f"/e/{e}/r/{r}/"),
        ("room_quality", f"/e/{e}/r/{r}/quality/"),
        ("room_plots", f"/e/{e}/r/{r}/plots/"),
        ("participant_quality", f"/e/{e}/r/{r}/p/{p}/quality/"),
        ("participant_plots", f"/e/{e}/r/{r}/p/{p}/plots/"),
        ("exports", "/exports/"),
        ("api_keys", "/keys/"),
        ("api_docs", "/keys/docs/"),
        ("access", "/access/"),
        ("experiment_access", f"/access/{e}/"),
        ("requests", f"/access/{e}/requests/"),
        ("manage_data", f"/access/{e}/data/"),
        ("audit", "/audit/"),
        ("preferences", "/preferences/"),
    ]
    for dt in T.DATA_TYPES:
        pages += [
            (f"experiment_{dt.key}", f"/e/{e}/data/?tab={dt.key}"),
            (f"room_{dt.key}", f"/e/{e}/r/{r}/data/?tab={dt.key}"),
            (f"viewer_{dt.key}", f"/e/{e}/r/{r}/p/{p}/?tab={dt.key}"),
        ]
    return pages


def open_context(chromium, live_server, size: str):
    width, height = SIZES[size]
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": width, "height": height}
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def serious_violations(page) -> list[str]:
    assert AXE.exists(), "axe-core is missing: `make test` installs it (npm ci, package.json)"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def check_page(page, errors: list[str], name: str, url: str, size: str) -> list[str]:
    """Open one page; what is wrong with it, as sentences (empty when all is well)."""
    errors.clear()
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    problems = []
    if response is None or response.status != 200:
        problems.append(f"{name}: status {response.status if response else None}")
    scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if scroll > inner:
        problems.append(f"{name} at {size}: the page scrolls sideways ({scroll} > {inner} px)")
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('main *')].filter(el => {
               const s = getComputedStyle(el);
               return s.overflowX === 'hidden' && el.scrollWidth > el.clientWidth + 1
                 && !el.closest('pre.json, .text, .chat, td, .visually-hidden');
             }).map(el => el.tagName + '.' + el.className).slice(0, 3)"""
    )
    if clipped:
        problems.append(f"{name} at {size}: clipped content in {clipped}")
    if errors:
        problems.append(f"{name} at {size}: console errors {errors}")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"page_{name}_{size}.png"), full_page=True)
    return problems


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_fits_loads_cleanly_and_passes_axe(
    transactional_db, world, chromium, live_server, size
):
    context, page, errors = open_context(chromium, live_server, size)
    try:
        browser_login(page, "owner")
        problems = []
        for name, url in owner_pages(world):
            problems += check_page(page, errors, name, url, size)
            if size == "wide" or name in ("experiment", "viewer_events", "audit", "api_keys"):
                problems += [f"{name} at {size}: {v}" for v in serious_violations(page)]
        assert not problems, "\n".join(problems)
    finally:
        context.close()


@pytest.mark.parametrize(
    ("role", "name", "url"),
    [("participant", "my_data", "/my-data/"), ("labadmin", "lab", "/lab/")],
)
@pytest.mark.parametrize("size", list(SIZES))
def test_the_pages_of_participants_and_lab_admins_fit_too(
    transactional_db, world, chromium, live_server, role, name, url, size
):
    context, page, errors = open_context(chromium, live_server, size)
    try:
        browser_login(page, role)
        problems = check_page(page, errors, name, url, size)
        problems += [f"{name}: {v}" for v in serious_violations(page)]
        assert not problems, "\n".join(problems)
    finally:
        context.close()


def test_at_800_px_the_sidebar_is_a_menu_and_the_tabs_take_two_rows_at_most(
    transactional_db, world, chromium, live_server
):
    context, page, errors = open_context(chromium, live_server, "narrow")
    try:
        browser_login(page, "owner")
        page.goto(f"/e/{world.experiment.public_id}/")
        sidebar = page.locator("#sidebar")
        assert not sidebar.is_visible()
        rows = page.evaluate(
            "() => new Set([...document.querySelectorAll('.tabs a')].map(a => a.offsetTop)).size"
        )
        assert 1 <= rows <= 2
        page.click("button.menu-button")
        page.locator("#sidebar.show").wait_for()
        assert page.locator("#sidebar a:text-is('Audit log')").is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "page_menu_open_narrow.png"))
        assert not [v for v in serious_violations(page)]
        page.click("#sidebar a:text-is('Audit log')")
        page.wait_for_url(re.compile(r"/audit/$"))
        assert not errors
    finally:
        context.close()


def test_at_1280_px_the_sidebar_stands_and_the_tabs_take_one_row(
    transactional_db, world, chromium, live_server
):
    context, page, _errors = open_context(chromium, live_server, "wide")
    try:
        browser_login(page, "owner")
        page.goto(f"/e/{world.experiment.public_id}/")
        assert page.locator("#sidebar a:text-is('Data')").is_visible()
        assert not page.locator("button.menu-button").is_visible()
        rows = page.evaluate(
            "() => new Set([...document.querySelectorAll('.tabs a')].map(a => a.offsetTop)).size"
        )
        assert rows == 1
    finally:
        context.close()


def test_the_theme_switch_is_remembered(transactional_db, world, chromium, live_server):
    context, page, _errors = open_context(chromium, live_server, "wide")
    try:
        browser_login(page, "owner")
        before = page.evaluate("document.documentElement.dataset.bsTheme")
        page.click(".sidebar-foot [data-theme-toggle]")
        after = page.evaluate("document.documentElement.dataset.bsTheme")
        assert {before, after} == {"light", "dark"}
        page.reload()
        assert page.evaluate("document.documentElement.dataset.bsTheme") == after
        page.goto(f"/e/{world.experiment.public_id}/")
        page.wait_for_load_state("networkidle")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"page_experiment_{after}_wide.png"), full_page=True)
        assert not serious_violations(page)
    finally:
        context.close()


def test_a_long_table_keeps_its_header_in_view(transactional_db, world, chromium, live_server):
    context, page, _errors = open_context(chromium, live_server, "wide")
    try:
        browser_login(page, "owner")
        page.goto(f"/e/{world.experiment.public_id}/data/?tab=events")
        frame = page.locator("#records .table-container").first
        frame.evaluate("el => { el.scrollTop = 600; }")
        gap = frame.evaluate(
            "el => el.querySelector('thead th').getBoundingClientRect().top"
            " - el.getBoundingClientRect().top"
        )
        assert abs(gap) <= 2
    finally:
        context.close()


def test_the_transcript_search_and_the_sync_bands(transactional_db, world, chromium, live_server):
    e, r = world.experiment.public_id, world.room.public_id
    context, page, errors = open_context(chromium, live_server, "wide")
    try:
        browser_login(page, "owner")
        page.goto(f"/e/{e}/r/{r}/data/?tab=chat")
        lines = page.locator("#chat-lines li")
        total = lines.count()
        assert total >= 2
        word = lines.first.locator(".bubble").inner_text().split()[-1]
        page.fill("[data-filter-lines]", word)
        shown = page.locator("#chat-lines li:not([hidden])")
        assert 1 <= shown.count() <= total
        for text in shown.locator(".bubble").all_inner_texts():
            assert word.lower() in text.lower()

        page.goto(f"/e/{e}/r/{r}/p/{world.participant.public_id}/?tab=sync")
        header = page.locator("#records thead th").all_inner_texts()
        column = next(i for i, h in enumerate(header) if "timeDrift" in h or "drift" in h.lower())
        drifts = [
            float(t.replace(",", "").split()[0])
            for t in page.locator(f"#records tbody tr td:nth-child({column + 1})").all_inner_texts()
        ]
        assert drifts
        # Each row carries the band of its own drift (django-tables2 row_attrs), as painted.
        rows = page.locator("#records tbody tr").evaluate_all(
            "trs => trs.map(tr => [tr.className, getComputedStyle(tr.cells[0]).boxShadow])"
        )
        assert len(rows) == len(drifts)
        for (css, shadow), drift in zip(rows, drifts, strict=True):
            assert f"band-{drift_band(drift)}" in css.split(), (css, drift)
            assert "inset" in shadow  # the band's stripe on the row's first cell
        for band in ("good", "fair", "poor"):
            expected = sum(1 for d in drifts if drift_band(d) == band)
            legend = page.locator(f".band-legend li[data-band={band}] strong").inner_text()
            assert int(legend.replace(",", "")) == expected
        plot_bands = page.locator("#plots svg.plot rect.band-good")
        plot_bands.first.wait_for()
        assert not errors
    finally:
        context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_the_column_chooser_hides_a_column_and_it_stays_hidden_after_reload(
    transactional_db, world, chromium, live_server, size
):
    e, r = world.experiment.public_id, world.room.public_id
    context, page, errors = open_context(chromium, live_server, size)
    try:
        browser_login(page, "owner")
        page.goto(f"/e/{e}/r/{r}/data/?tab=events")
        heads = page.locator("#records thead th[data-field=content]")
        assert heads.count() == 1 and heads.inner_text() == "Content"
        page.click("#records .column-chooser > summary")
        panel = page.locator("#records .chooser-panel")
        panel.wait_for()
        box = panel.get_by_label("Content", exact=True)
        assert box.is_checked()
        box.uncheck()
        left, right = panel.evaluate(
            "el => [el.getBoundingClientRect().left, el.getBoundingClientRect().right]"
        )
        assert left >= 0 and right <= SIZES[size][0]  # the dropdown stays on screen
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"page_column_chooser_{size}.png"))
        with page.expect_navigation():
            panel.get_by_role("button", name="Apply").click()
        assert page.url.endswith(f"/e/{e}/r/{r}/data/?tab=events")
        assert page.locator("#records thead th[data-field=content]").count() == 0
        assert page.locator("#records thead th[data-field=eventType]").count() == 1
        page.reload()
        assert page.locator("#records thead th[data-field=content]").count() == 0
        page.click("#records .column-chooser > summary")
        assert (
            not page.locator("#records .chooser-panel")
            .get_by_label("Content", exact=True)
            .is_checked()
        )
        scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        assert scroll <= inner
        assert not errors
    finally:
        context.close()
