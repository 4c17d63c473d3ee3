"""fetch and the client's sync API inside a real Jupyter kernel (an event loop is
already running there), without nest_asyncio, with the progress widget."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

CELLS = [
    """
import asyncio, sys
asyncio.get_running_loop()  # the kernel's loop is running
assert "nest_asyncio" not in sys.modules
from activity_toolkit.load import fetch
from activity_toolkit.sandbox import Sandbox, World, SandboxConfig
box = Sandbox(World.generate(customers=6, events=25, seed=3),
              SandboxConfig(secret_key="sk_nb_SECRET_55"))
client = box.client(page_size=10)
""",
    "client",
    """
log = fetch(client, progress=True)
print(len(log), len(box.event_ids()), sorted(log.events["id"]) == sorted(box.event_ids()))
""",
    "len(client.customer_activity(box.customer_ids[0]))",
    "assert 'nest_asyncio' not in sys.modules",
]


def test_fetch_in_a_running_kernel() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for o in outputs
    )
    assert "150 150 True" in text
    assert "25" in text
    assert "Secret('********')" in text  # the client's repr
    assert "sk_nb_SECRET_55" not in str(outputs)  # in no output
    assert "sk_nb_SECRET_55" not in str(nb.metadata)  # nor in the saved widget state
    widgets = [
        o
        for o in outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widgets, "tqdm.auto shows a widget in a notebook"
