"""The IR: a networkx DiGraph of typed operations.

Graph attributes (``G.graph``):
    name, description, path      the program header and file
    params                       {name: value} after --set overrides
    models                       {role: ModelSpec dict} after --model rebinding; a local
                                 model also has ``resolved`` (the checked real path, or the
                                 hub id) and ``local``; a role bound with --key has
                                 ``api_key_env`` (the variable's name)
    access                       what the run may read and contacts
                                 (collabdsl.access.check_graph): program_dir, cwd,
                                 allow_read, reads [{what, path, span, allowed_by}],
                                 network [{role, to, for, key}]
    prompts                      {name: {"slots": [...], "template": str}}
    kbs                          [name, ...]
    ablations                    {param: label} of the params marked ``ablation "LABEL"``
                                 (bool switches; ``collab sweep --ablations`` flips each)
    order                        node ids in run order (a topological order of the
                                 top level, loop bodies right after their loop node)
    hidden                       the columns the lowering made up (model results, locals,
                                 gates, eval systems, expand items): their names carry a
                                 counter, so they mean nothing outside this graph

Node attributes (every node):
    kind      one of KINDS below
    label     short human text for graphs and plans
    span      "path:line:col" of the statement that made the node
    parent    id of the enclosing ``loop`` node, or None at top level
    data      the data set the node works on (name), or None
    model     the model role used (model ops, train), or None
    version   for model ops: id of the ``train`` node whose version is used, or None
              (base weights); for train: the version it starts from
    reads     columns of ``data`` the node reads
    out       the column (row ops), data set name(s) (data ops) or model role (train)
              the node writes
    when      [gate column, ...] conjunction of gate columns (value true) that select
              the rows the node runs on; a leading "!" negates: "!_g3"
    expr      pure row expression(s) as AST nodes (evaluated by collabdsl.evaluate)
    options   literal options (temperature, k, range, objective entries, ...); an ``eval``
              lists its systems as {label, column, retrievals: [[column, kb], ...]}, the
              retrievals being those the system's value depends on; a ``retrieve`` has
              {kb, top, by}: ``by`` the field BM25 ranks, "key" or "text" (it returns texts)

Edges: ``kind="data"`` (a column or data set flows, ``label`` names it),
``kind="version"`` (a trained model version flows into the nodes that use it) or
``kind="order"`` (a training waits for the earlier uses of the version it replaces).

Loops: a ``loop`` node stands for the whole repetition (``options``: count or until/
max, the iteration variable). The nodes of its body are in the same graph with
``parent`` set to the loop's id and are listed in run order in the loop node's
``body``. Edges between body nodes are the dependencies of one iteration. What one
iteration hands to the next (model versions trained in the body, data sets rebound
in it) is listed in the loop node's ``carried`` attribute, not drawn as back edges,
so the graph is always acyclic. An edge from a node outside into a body node also
has a twin edge into the loop node, so contracting a loop keeps the order.

Static ifs on params are decided when the IR is built: only the taken branch is in
the graph (the checker has seen both).
"""
from __future__ import annotations

KINDS = (
    # data sets
    "load", "split", "concat", "take", "shuffle", "fewshot", "filter", "expand",
    # per-row operations
    "compute", "gate", "generate", "sample", "score", "choose", "kb_write", "retrieve",
    # model versions and results
    "train", "eval",
    # control
    "loop",
)

MODEL_OPS = ("generate", "sample", "score", "choose")
