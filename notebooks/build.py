"""Stamps each notebook's "Open in Colab" badge and install cell from setup.cfg's `url`; runs them.

    python notebooks/build.py            # stamp only
    python notebooks/build.py --execute  # stamp, run every notebook in place (outputs kept),
                                         # and save the figures tagged for docs/ (make notebooks)

The badge and the install cell are the notebook's first two cells, tagged
`keras_lr:stamp`; they are replaced, not added again. A code cell tagged
`keras_lr:docs=NAME.png` gives its first image output to docs/NAME.png.
"""

import argparse
import base64
import configparser
import os
import pathlib
import re

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
STAMP = "keras_lr:stamp"
DOCS = "keras_lr:docs="


def repository_url():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config["metadata"]["url"].rstrip("/")


def badge_cell(url, name):
    path = url.replace("https://github.com/", "")
    colab = f"https://colab.research.google.com/github/{path}/blob/main/notebooks/{name}"
    source = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab})"
    return nbformat.v4.new_markdown_cell(source, metadata={"tags": [STAMP]})


def install_cell(url):
    source = (
        "# Installs keras_lr where it is not installed yet (in Colab, say); does nothing otherwise.\n"
        "import importlib.util, subprocess, sys\n"
        "\n"
        "if importlib.util.find_spec(\"keras_lr\") is None:\n"
        f"    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"keras-lr[demo] @ git+{url}\"], check=True)"
    )
    return nbformat.v4.new_code_cell(source, metadata={"tags": [STAMP]})


def stamp(notebook, url, name):
    cells = [cell for cell in notebook.cells if STAMP not in cell.get("metadata", {}).get("tags", [])]
    notebook.cells = [badge_cell(url, name), install_cell(url), *cells]
    return notebook


def execute(notebook, path):
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()


# What native code (TensorFlow's C++ start-up, XLA) writes to the kernel's stderr: noise on GitHub.
NATIVE_LOG = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} \d\d:\d\d:\d\d|To enable the following "
                        r"instructions|\[IPKernelApp\])")


def clean(notebook):
    """Drops native log lines from the outputs; keeps every Python warning and printed line."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = [line for line in output["text"].splitlines(keepends=True) if not NATIVE_LOG.match(line)]
                if not "".join(lines).strip():
                    continue
                output["text"] = "".join(lines)
            outputs.append(output)
        cell.outputs = outputs
    return notebook


def export_figures(notebook):
    for cell in notebook.cells:
        for tag in cell.get("metadata", {}).get("tags", []):
            if tag.startswith(DOCS):
                image = next(o["data"]["image/png"] for o in cell.outputs if "image/png" in o.get("data", {}))
                (ROOT / "docs" / tag[len(DOCS):]).write_bytes(base64.b64decode(image))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="run each notebook in place and export figures")
    args = parser.parse_args()
    url = repository_url()
    for path in NOTEBOOKS:
        notebook = stamp(nbformat.read(path, as_version=4), url, path.name)
        if args.execute:
            # The kernels draw inline (their figures become outputs); `make` exports MPLBACKEND=Agg
            # for the tests, which a kernel would inherit and draw nothing.
            os.environ.pop("MPLBACKEND", None)
            print(f"running {path.name}", flush=True)
            execute(notebook, path)
            clean(notebook)
            export_figures(notebook)
        nbformat.write(notebook, path)


if __name__ == "__main__":
    main()
