"""The built-in datasets: canonical sources, per-file sha256, licences, record counts.

The digests were computed on the files as published (see each dataset's ``homepage``); the
record counts were checked by reading them. Importing this module registers the datasets.
"""

from __future__ import annotations

from seqattn.data.datasets._registry import DatasetInfo, register
from seqattn.data.datasets._registry import file_spec as _f
from seqattn.data.datasets.text_classification import check_imdb

__all__: list[str] = []


# --------------------------------------------------------------------------- VADER
_VADER_TGZ = (
    "https://github.com/cjhutto/vaderSentiment/raw/master/additional_resources/"
    "hutto_ICWSM_2014.tar.gz"
)
_VADER_TGZ_SHA = "d5bb07d87474b3eb8d30b4deccbc23f19d742a6c5718fbacc65485b70b95c5fa"


def _vader(name, size, sha256, optional=False):
    return _f(name, size, sha256, _VADER_TGZ, f"hutto_ICWSM_2014/{name}", optional,
              archive_sha256=_VADER_TGZ_SHA)  # fmt: skip


register(
    DatasetInfo(
        name="vader",
        folder="vader",
        description=(
            "VADER ground truth: tweets, movie/Amazon/NYT snippets with mean human sentiment "
            "ratings (-4..+4)."
        ),
        license="MIT (c) 2016 C.J. Hutto (repository LICENSE.txt)",
        citation=(
            "Hutto & Gilbert (2014). VADER: A Parsimonious Rule-based Model for Sentiment "
            "Analysis of Social Media Text. ICWSM-14."
        ),
        homepage="https://github.com/cjhutto/vaderSentiment",
        files=(
            _vader(
                "tweets_GroundTruth.txt",
                389_886,
                "dfbe7102e2f92579ed8b19df9a3822491880697c67adf712fb66e520cc05102f",
            ),
            _vader(
                "movieReviewSnippets_GroundTruth.txt",
                1_383_098,
                "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350",
            ),
            _vader(
                "amazonReviewSnippets_GroundTruth.txt",
                373_157,
                "11a9807a0974a2506a2d3b4851eaf69b3d6d20688ce4923adda2312a4f6dd6c2",
            ),
            _vader(
                "nytEditorialSnippets_GroundTruth.txt",
                607_629,
                "7d8fbcce7dde5d716da53e78f4ef4be6b706e9ef1e1d51887e6d0ad4b69cc27e",
            ),
            _vader(
                "_README_.txt",
                12_408,
                "583d6381c04a4b342ac6e7268066128467785f1f4801c4f7d44afb1ccbaad939",
                True,
            ),
            _f(
                "LICENSE.txt",
                1_076,
                "b78925304c567623f14677bad66b8e305e7ddcaf7982c8d8411ce51c55a8bf51",
                "https://github.com/cjhutto/vaderSentiment/raw/master/LICENSE.txt",
                optional=True,
            ),
        ),  # fmt: skip
        counts={"tweets": 4_200, "movie": 10_605, "amazon": 3_708, "nyt": 5_190},
        notes=(
            "CRLF line endings, last line unterminated; ID<TAB>MEAN-RATING<TAB>TEXT, no header.",
            "_README_.txt is cp1252.",
            "labels: mean > threshold positive, < -threshold negative (default threshold 0).",
        ),
    )
)

# --------------------------------------------------------------------------- SST-2
_SST2_ZIP = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
register(
    DatasetInfo(
        name="sst2",
        folder="sst2",
        description="GLUE SST-2: binary sentiment of movie-review sentences and phrases.",
        license="none stated beyond the SST/GLUE citation requests",
        citation=(
            "Socher et al. (2013). Recursive Deep Models for Semantic Compositionality Over a "
            "Sentiment Treebank. EMNLP. / Wang et al. (2019). GLUE. ICLR."
        ),
        homepage="https://gluebenchmark.com/tasks",
        files=(
            _f(
                "train.tsv",
                3_806_081,
                "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
                _SST2_ZIP,
                "SST-2/train.tsv",
            ),
            _f(
                "dev.tsv",
                94_931,
                "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
                _SST2_ZIP,
                "SST-2/dev.tsv",
            ),
            _f(
                "test.tsv",
                197_335,
                "69a938605609b3e6663b4487918fe1565eb293734e6e520d0366d1d412fd2a13",
                _SST2_ZIP,
                "SST-2/test.tsv",
            ),
        ),  # fmt: skip
        counts={"train": 67_349, "dev": 872, "test": 1_821},
        notes=(
            "sentence<TAB>label with a header; a space before every tab (stripped).",
            "test.tsv is index<TAB>sentence: no labels (GLUE hidden test set).",
        ),
    )
)

# --------------------------------------------------------------------------- IMDB
register(
    DatasetInfo(
        name="imdb",
        folder="imdb",
        description="IMDB Large Movie Review Dataset v1.0: 50,000 polar reviews, 25k/25k.",
        license="none stated; cite Maas et al. (2011); reviews are IMDb user content",
        citation=("Maas et al. (2011). Learning Word Vectors for Sentiment Analysis. ACL-HLT."),
        homepage="https://ai.stanford.edu/~amaas/data/sentiment/",
        files=(
            # Accepted by content (layout + 12,500 reviews per folder), not by the archive's
            # hash: re-packs without train/unsup and extracted folders are equally good.
            _f(
                "aclImdb_v1.tar.gz",
                84_125_825,
                None,
                "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                validate=check_imdb,
                alternative="aclImdb",
            ),
        ),  # fmt: skip
        counts={"train": 25_000, "test": 25_000},
        notes=(
            "read from the .tar.gz directly, or from an extracted aclImdb/ folder.",
            "reviews contain <br /> tags (replaced by a space).",
        ),
    )
)

# --------------------------------------------------------------------------- rt-polarity
_RT_TGZ = "http://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"
register(
    DatasetInfo(
        name="rt-polarity",
        folder="rt_polarity",
        description="Sentence polarity v1.0 (MR): 5,331 positive and 5,331 negative snippets.",
        license="none stated; cite Pang & Lee (2005)",
        citation=(
            "Pang & Lee (2005). Seeing stars: Exploiting class relationships for sentiment "
            "categorization with respect to rating scales. ACL."
        ),
        homepage="https://www.cs.cornell.edu/people/pabo/movie-review-data/",
        files=(
            _f(
                "rt-polarity.pos",
                626_168,
                "d79ef14009bbf87cd6be21f91c3ea1a3cbcb73b34dfb4231aef7bbcd7677abc4",
                _RT_TGZ,
                "rt-polaritydata/rt-polarity.pos",
            ),
            _f(
                "rt-polarity.neg",
                612_290,
                "4af43bf489620b498a0852c5a8c6a535155dec7985fdfea782b8f7756b957ccc",
                _RT_TGZ,
                "rt-polaritydata/rt-polarity.neg",
            ),
            _f(
                "rt-polaritydata.README.1.0.txt",
                1_682,
                "67bc8e858b247a20eb5d6dec39d1fca89ea36112872b48ac8fddfb599dadbf49",
                _RT_TGZ,
                "rt-polaritydata.README.1.0.txt",
                optional=True,
            ),
        ),  # fmt: skip
        counts={"pos": 5_331, "neg": 5_331},
        notes=("Windows-1252, not UTF-8.", "no official split (10-fold CV in papers)."),
    )
)

# --------------------------------------------------------------------------- Multi30k
_M30K = "https://github.com/multi30k/dataset/raw/master/data/task1/raw/"
register(
    DatasetInfo(
        name="multi30k",
        folder="multi30k",
        description="Multi30k task 1: English-German Flickr30k caption translations (raw).",
        license="no licence file; Flickr terms, non-commercial research and education use",
        citation=(
            "Elliott et al. (2016). Multi30K: Multilingual English-German Image Descriptions. "
            "VL@ACL."
        ),
        homepage="https://github.com/multi30k/dataset",
        files=(
            _f(
                "train.en.gz",
                568_929,
                "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
                _M30K + "train.en.gz",
            ),
            _f(
                "train.de.gz",
                637_044,
                "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
                _M30K + "train.de.gz",
            ),
            _f(
                "val.en.gz",
                21_650,
                "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
                _M30K + "val.en.gz",
            ),
            _f(
                "val.de.gz",
                24_681,
                "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
                _M30K + "val.de.gz",
            ),
            _f(
                "test_2016_flickr.en.gz",
                21_077,
                "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
                _M30K + "test_2016_flickr.en.gz",
            ),
            _f(
                "test_2016_flickr.de.gz",
                22_890,
                "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
                _M30K + "test_2016_flickr.de.gz",
            ),
            _f(
                "README.md",
                4_509,
                "d85366a011c276342f99bcd1fe32ca126e0295914413f7bf45201972f241818c",
                "https://github.com/multi30k/dataset/raw/master/README.md",
                optional=True,
            ),
        ),  # fmt: skip
        counts={"train": 29_000, "val": 1_014, "test_2016_flickr": 1_000},
        notes=("gzip text, one sentence per line; train.de has a TAB inside one sentence.",),
    )
)

# --------------------------------------------------------------------------- fra-eng
_FRA_ZIP = "http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip"
register(
    DatasetInfo(
        name="fra-eng",
        folder="fra_eng",
        description="Tatoeba English-French sentence pairs, the D2L fra-eng release (2019).",
        license="CC BY 2.0 (Tatoeba; attribution: www.manythings.org/anki and tatoeba.org)",
        citation=(
            "Tatoeba Project, via manythings.org/anki; as used by Zhang et al., "
            "Dive into Deep Learning."
        ),
        homepage="https://www.manythings.org/anki/",
        files=(
            _f(
                "fra.txt",
                11_669_748,
                "0bb85dbaa1c896844649094d7eaf2e34bee34e84fe362b26ce7e8f2e12aae104",
                _FRA_ZIP,
                "fra-eng/fra.txt",
            ),
            _f(
                "_about.txt",
                1_441,
                "79f39a53dbddaf7ab43c801f231089174a611f23987244056f9e3cb5aa79358b",
                _FRA_ZIP,
                "fra-eng/_about.txt",
                optional=True,
            ),
        ),  # fmt: skip
        counts={"pairs": 167_130},
        notes=("EN<TAB>FR, UTF-8; French has U+202F/U+00A0 no-break spaces (normalised).",),
    )
)

# bAbI, Planetoid and Fashion-MNIST: registered after the text datasets, in this order
from seqattn.data.datasets import _catalog_tasks  # noqa: E402, F401
