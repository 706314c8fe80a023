"""The report in real headless Chromium: no console errors, no network, a non-blank page."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from bert2sk.report import write_report

from .test_report import EVIL, RTL, _many_class_study, make_study

CHROMIUM = os.environ.get("BERT2SK_CHROMIUM", "/usr/bin/chromium")
DRIVER = os.environ.get("BERT2SK_CHROMEDRIVER", "/usr/bin/chromedriver")

pytestmark = pytest.mark.browser


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, DRIVER) if not (Path(p).exists() or shutil.which(p))]
    if not missing:
        return
    msg = f"headless Chromium needed: {', '.join(missing)} not found (apt-get install -y chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def _open(path: Path, tmp_path: Path) -> tuple[str, bytes]:
    """Load ``path`` in headless Chromium; assert no console errors and no network; return text and PNG."""
    _need_browser()
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        driver.get(path.resolve().as_uri())
        assert driver.execute_script("return document.readyState") == "complete"
        text = driver.find_element("tag name", "body").text
        severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert not severe, severe
        urls = []
        for entry in driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg.get("method") == "Network.requestWillBeSent":
                urls.append(msg["params"]["request"]["url"])
        assert urls, "the page load itself should be logged"
        assert all(u.startswith(("file://", "data:")) for u in urls), urls
        shot = tmp_path / f"{path.stem}.png"
        assert driver.save_screenshot(str(shot))
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    return text, png


def _not_blank(png: bytes) -> None:
    import matplotlib.image as mpimg

    img = mpimg.imread(io.BytesIO(png), format="png")
    colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert img.shape[0] > 500 and len(colours) > 50, "the screenshot looks blank"


def test_report_opens_offline_in_chromium(tiny_bert, tmp_path):
    _need_browser()
    result = make_study(tiny_bert, [EVIL, RTL])
    path = write_report(result, tmp_path / "report.html", n_docs=6, doc_indices=[0, 1, 2, 3, 4, 5],
                        teacher_docs=1, lime_samples=80)
    text, png = _open(path, tmp_path)
    assert "Documents" in text
    _not_blank(png)


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_many_class_reports_open_in_chromium(task, tiny_bert_multiclass, tiny_bert_multilabel, tmp_path):
    _need_browser()
    result = _many_class_study(tiny_bert_multiclass if task == "multiclass" else tiny_bert_multilabel, task)
    pick = result.label_names[1]
    path = write_report(result, tmp_path / f"{task}.html", n_docs=4, teacher_docs=1, lime_samples=60,
                        explain_class=pick)
    text, png = _open(path, tmp_path)
    assert "Per class" in text and ("Confusions" in text) == (task == "multiclass")
    assert f"the picked class “{pick}”" in text
    _not_blank(png)
