"""The explorer page in a real browser (Playwright driving the system chromium; no download):
classify a sentence, read the label and the shaded tokens back from the DOM, move a
translation's step slider, caption a scene, take a screenshot; no console errors."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("fastapi", reason="seqattn serve needs the serve extra (fastapi, uvicorn)")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (dev extra)")


# the system chromium (as tests/viz/test_report.py finds it); Playwright downloads nothing
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
                None)  # fmt: skip


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed (apt-get install chromium); .ci/run installs it",
)
def test_explorer_page_in_chromium(server, client, tmp_path):
    sentence = "the plot was good"
    want = client.post("/api/classify", json={"model": "classifier", "texts": [sentence]})
    want = want.json()["predictions"][0]
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
            page.set_default_timeout(20_000)
            page.goto(server + "/")
            page.wait_for_selector("#classifier:not([hidden])")
            page.fill("#cls-text", sentence)
            page.click("#cls-go")
            page.wait_for_function("document.getElementById('cls-label').textContent !== ''")
            assert page.text_content("#cls-label") == want["label"]
            tokens = page.locator("#cls-tokens .tok")
            assert tokens.all_text_contents() == want["tokens"]
            shaded = page.locator("#cls-tokens .tok.shaded").count()
            assert shaded == sum(w > 0 for w in want["weights"]) == len(want["tokens"])
            style = tokens.first.get_attribute("style")
            assert style.startswith("background:rgba(214,39,40,"), style

            page.fill("#tr-text", "ein hund läuft .")
            page.fill("#tr-beam", "2")
            page.click("#tr-go")
            page.wait_for_selector("#hyp-1 input.step")
            assert page.locator(".hyp").count() == 2  # greedy and beam 2
            slider = page.locator("#hyp-0 input.step")
            steps = int(slider.get_attribute("max")) + 1
            assert "step 1 of" in page.locator("#hyp-0 span.note").text_content()
            slider.fill("2")
            assert f"step 3 of {steps}" in page.locator("#hyp-0 span.note").text_content()
            assert page.locator("#hyp-0 tr.cur").count() == 1
            assert page.locator("#hyp-0 .step-source .tok").count() == 4  # ein hund läuft .

            page.select_option("#tr-model", label="transformer")
            page.fill("#tr-beam", "1")
            page.click("#tr-go")
            page.wait_for_selector("#hyp-0 .tabs button")
            assert page.locator(".hyp").count() == 1
            tabs = page.locator("#hyp-0 .tabs button")
            assert tabs.all_text_contents() == ["mean", "head 1", "head 2"]
            mean_cells = page.locator("#hyp-0 table.att td").all_text_contents()
            tabs.nth(2).click()
            assert page.locator("#hyp-0 .tabs button.on").text_content() == "head 2"
            assert page.locator("#hyp-0 table.att td").all_text_contents() != mean_cells
            page.locator("#hyp-0 input.step").fill("1")
            assert "step 2 of" in page.locator("#hyp-0 span.note").text_content()

            page.select_option("#cap-scene", "2")
            page.click("#cap-go")
            page.wait_for_function("document.getElementById('cap-caption').textContent !== ''")
            words = page.locator("#cap-words button")
            if words.count() > 1:
                words.nth(1).click()
            assert page.locator("#runs-list a").count() == 2
            shot = tmp_path / "explorer.png"
            page.screenshot(path=str(shot), full_page=True)
            assert page.text_content("#error") == ""
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    assert not problems, problems
