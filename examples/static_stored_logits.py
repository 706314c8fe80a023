"""Static tables on CLINC150 from stored teacher logits: the settings study behind the static students' defaults.

    python examples/static_stored_logits.py [--data ../shared/data/clinc150/data_oos_plus.json]

Reads the teacher logits stored in ``reports/clinc150/`` (no teacher model
needed) and distils the table from the *packaged* all-MiniLM-L6-v2 encoder
(the teacher that made those logits is not kept). Ridge regression on the
logits, as the ``linear`` distilled students do; fidelity and accuracy on the
validation split (where settings are chosen) and on test (reported once per
setting). Rows: TF-IDF, the plain table (normalised or not), the table
fine-tuned on the teacher's training logits for a few epochs and learning rates.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "clinc150" / "data_oos_plus.json"
CACHE = os.path.join(os.environ.get("BERT2SK_CACHE") or os.path.expanduser("~/.cache/bert2sk"), "static")


def _row(name: str, feats: tuple, z: dict, truth: dict, alpha: float) -> str:
    from sklearn.linear_model import Ridge

    r = Ridge(alpha=alpha).fit(feats[0], z["train"])
    out = [f"{name:<34} alpha={alpha:<5}"]
    for split, x in (("val", feats[1]), ("test", feats[2])):
        p = r.predict(x).argmax(1)
        out.append(f"{split} fidelity {(p == z[split].argmax(1)).mean():.3f} accuracy {(p == truth[split]).mean():.3f}")
    return "  ".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    from bert2sk.data import load_clinc150
    from bert2sk.features import StaticFeatures, TfidfFeatures
    from bert2sk.teacher import load_logits

    corpora = {s: load_clinc150(args.data, s) for s in ("train", "val", "test")}
    z = load_logits(ROOT / "reports" / "clinc150")[0]
    truth = {s: c.hard_targets() for s, c in corpora.items()}
    texts = [corpora[s].texts for s in ("train", "val", "test")]
    tf = TfidfFeatures().fit(texts[0])
    print(_row("tfidf", [tf.transform(t) for t in texts], z, truth, 0.3), flush=True)
    settings = [("plain, not normalised", {"normalize": False}), ("plain", {})]
    settings += [(f"tuned {e} epochs, lr {lr}", {"tune_epochs": e, "tune_learning_rate": lr})
                 for e, lr in ((2, 1e-2), (3, 1e-3), (3, 1e-2), (3, 3e-2), (5, 1e-2), (10, 1e-2), (20, 1e-2))]
    for name, kw in settings:
        f = StaticFeatures(None, cache_dir=CACHE, **kw).fit(texts[0], teacher_logits=z["train"])
        feats = [f.transform(t) for t in texts]
        for alpha in (1.0, 10.0):
            print(_row(f"static {name}", feats, z, truth, alpha), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
