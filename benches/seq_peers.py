#!/usr/bin/env python3
"""Sequence models vs peers (issue 19, item 6): recs against RecTools' SASRec and BERT4Rec.

One run trains every model on each data set's next-item protocol and prints, per data set, a
table of HR@10 / NDCG@10, train wall seconds, train CPU seconds, peak RSS and the ratios against
recs's best model (by NDCG@10); ``--out`` writes the same as JSON.

Protocols (per user, items in time order; equal times keep the order of the file's lines):

* ``s1``  ML-1M users 1-2999 (``ml-1m/ratings_users0001-2999.dat.gz``): last item = test,
  second-last = validation, the rest = train. Models train on the train part; the test history
  is train + validation.
* ``b1``  Amazon Beauty (``amazon-beauty/beauty.txt.gz``, file order = time order): the
  published protocol (Klenitskiy & Vasilev 2023), the same rule as s1.
* ``p3``  ML-100K ``u.data`` leave-last-out by time: last item = test, the rest = train and test
  history. (RecTools' early-stopped configuration holds the second-last item out as its
  validation target, so it trains on one item per user less than the other models.)

All three rank every item of the file; the items of the test history are removed; a tie
between the test item and another candidate counts against the test item (in the numpy model,
which can tie; the neural models' float scores do not tie in practice).

Models:

* ``numpy-transition`` (numpy, independent of recs): decayed item-transition counts. Counting: for
  every training position t and lag d = 1..10, C[s[t-d], s[t]] += 0.5^(d-1). Scoring: the last
  10 history items h_0 (newest) .. h_9, score(j) = sum_k 0.5^k C[h_k, j]. This is the issue's
  calibration model; it pins the protocol (expected S1 0.2591 / 0.1531; see
  docs/benchmarks.md for B1).
* ``rectools-sasrec``, ``rectools-bert4rec``: RecTools' models at RecTools' defaults (3 epochs,
  n_factors 256, 4 heads, 2 blocks, dropout 0.2, max length 100, full softmax loss).
* ``rectools-sasrec-paper``: the SASRec+ configuration of Klenitskiy & Vasilev (RecSys 2023,
  their repository's SASRec.yaml): full softmax cross-entropy, 2 blocks, 1 head, hidden 64,
  dropout 0.1, lr 0.001, batch 128, max length 200 (ML-1M, ML-100K) / 50 (Beauty), up to 100
  epochs with early stopping (patience 10; here on RecTools' validation loss, the paper uses
  validation NDCG@10), best epoch's weights restored.
* ``recs:<model>``: ``recs eval`` on the same file and protocol (one process per model; needs
  a release build of the ``recs`` binary). Its CPU seconds and peak RSS are those of the whole
  ``recs eval`` process (loading, training and evaluation), an upper bound on training alone.

Every model runs in its own child process (``--worker``), so peak RSS is per model. Each
RecTools training stops at a CPU-seconds cap (``--cpu-cap``: seconds, or ``Nx`` = N times
recs's SASRec train CPU seconds on that data set in the same run, default ``*=5x``), which the
machine's load hardly changes; ``--deadline`` / ``--stop-by`` stop trainings at a wall time so
a run ends on time. Each row says which stop it hit. Torch uses ``--threads`` threads
(default 2), recs ``RAYON_NUM_THREADS`` = the same.

Usage (venv with ``pip install -r benches/seq_peers_requirements.txt``):

    cargo build --release -p recs-server --bin recs
    cargo build --release -p recs-benches --example sasrec
    nice -n 10 python benches/seq_peers.py --datasets s1,p3,b1 --out peers.json
    python benches/seq_peers.py --sample-users 300 --cpu-cap '*=20'      # quick smoke run

The data directory defaults to ``$RECS_DATA_DIR`` or ``../shared/data`` next to the repository;
a data set whose file is missing is skipped with a message (exit 0).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

K = 10
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> (relative path, field separator, has timestamps, description)
DATASETS = {
    "s1": (
        "ml-1m/ratings_users0001-2999.dat.gz",
        "::",
        True,
        "ML-1M users 1-2999; last item test, second-last validation; full ranking, seen removed",
    ),
    "b1": (
        "amazon-beauty/beauty.txt.gz",
        " ",
        False,
        "Amazon Beauty (BERT4Rec file); published protocol: train all but last two, "
        "test history includes the second-last; full ranking, seen removed",
    ),
    "p3": (
        "ml-100k/u.data",
        "\t",
        True,
        "ML-100K u.data leave-last-out by time; full ranking, seen removed",
    ),
}

# The paper's max length per data set (their run_final.sh: 200 on ML-1M, 50 on Beauty); ML-100K
# is MovieLens-like, so it gets the MovieLens value.
PAPER_MAX_LEN = {"s1": 200, "b1": 50, "p3": 200}

RECTOOLS_MODELS = ("rectools-sasrec", "rectools-bert4rec", "rectools-sasrec-paper")


class DataError(Exception):
    """A data file that does not parse; the message names the file, line and field."""


# ----------------------------------------------------------------------------------------------
# Data


def open_text(path: str):
    return gzip.open(path, "rt") if path.endswith(".gz") else open(path)


def read_interactions(path: str, sep: str, timed: bool):
    """Returns (users, items, times) as int64 arrays in file order.

    Files without timestamps get the line number as the time, so file order is time order.
    """
    users, items, times = [], [], []
    want = 4 if timed else 2
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            parts = line.split(sep) if sep != " " else line.split()
            if len(parts) < want:
                raise DataError(f"{path}:{lineno}: expected {want} fields, got {len(parts)}")
            vals = []
            for field, idx in (("user", 0), ("item", 1), ("timestamp", 3)):
                if field == "timestamp" and not timed:
                    vals.append(lineno)
                    continue
                try:
                    vals.append(int(parts[idx]))
                except ValueError:
                    raise DataError(
                        f"{path}:{lineno}: field {field}: not an integer: {parts[idx]!r}"
                    ) from None
            users.append(vals[0])
            items.append(vals[1])
            times.append(vals[2])
    return (
        np.asarray(users, dtype=np.int64),
        np.asarray(items, dtype=np.int64),
        np.asarray(times, dtype=np.int64),
    )


@dataclass
class Split:
    """One protocol's data, items as 0-based indices into ``item_ids``.

    ``fit``: per user the items a model trains on; ``hist``: the test history (also the items
    removed from the ranking); ``test``: the held-out item; ``val_held_out``: whether the last
    item of ``hist`` is the validation item (excluded from ``fit``).
    """

    name: str
    user_ids: np.ndarray
    item_ids: np.ndarray
    fit: list
    hist: list
    test: np.ndarray
    val_held_out: bool

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def sequences(users, items, times):
    """Per-user item sequences (time, then line order), with the raw user and item ids."""
    user_ids, uidx = np.unique(users, return_inverse=True)
    item_ids, iidx = np.unique(items, return_inverse=True)
    order = np.lexsort((np.arange(len(users)), times, uidx))
    uidx, iidx = uidx[order], iidx[order]
    bounds = np.flatnonzero(np.diff(uidx)) + 1
    return user_ids, item_ids, np.split(iidx, bounds)


def make_split(name, users, items, times) -> Split:
    user_ids, item_ids, seqs = sequences(users, items, times)
    # Users with too short a history for the protocol (3 items with a validation item, 2
    # without) are not tested. None of the three files has any.
    need = 2 if name == "p3" else 3
    keep = np.array([len(s) >= need for s in seqs])
    seqs = [s for s, k in zip(seqs, keep, strict=True) if k]
    user_ids = user_ids[keep]
    hist = [s[:-1] for s in seqs]
    test = np.array([s[-1] for s in seqs], dtype=np.int64)
    if name == "p3":
        return Split(name, user_ids, item_ids, hist, hist, test, val_held_out=False)
    return Split(name, user_ids, item_ids, [s[:-2] for s in seqs], hist, test, val_held_out=True)


def sample_file(src: str, dst: str, sep: str, n_users: int) -> None:
    """Copies the lines of the first ``n_users`` distinct users (by id) to ``dst``."""
    keep_ids = set()
    with open_text(src) as f:
        ids = set()
        for line in f:
            parts = line.split(sep) if sep != " " else line.split()
            if parts and parts[0].strip():
                ids.add(int(parts[0]))
    keep_ids = set(sorted(ids)[:n_users])
    op = gzip.open if dst.endswith(".gz") else open
    with open_text(src) as f, op(dst, "wt") as g:
        for line in f:
            parts = line.split(sep) if sep != " " else line.split()
            if parts and parts[0].strip() and int(parts[0]) in keep_ids:
                g.write(line)


def save_split(split: Split, path: str) -> None:
    def pack(seqs):
        lens = np.array([len(s) for s in seqs], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lens)])
        return indptr, (np.concatenate(seqs) if seqs else np.zeros(0, np.int64))

    fit_ptr, fit_items = pack(split.fit)
    hist_ptr, hist_items = pack(split.hist)
    np.savez(
        path,
        name=np.array(split.name),
        user_ids=split.user_ids,
        item_ids=split.item_ids,
        fit_ptr=fit_ptr,
        fit_items=fit_items,
        hist_ptr=hist_ptr,
        hist_items=hist_items,
        test=split.test,
        val_held_out=np.array(split.val_held_out),
    )


def load_split(path: str) -> Split:
    z = np.load(path)

    def unpack(ptr, items):
        return [items[ptr[i] : ptr[i + 1]] for i in range(len(ptr) - 1)]

    return Split(
        str(z["name"]),
        z["user_ids"],
        z["item_ids"],
        unpack(z["fit_ptr"], z["fit_items"]),
        unpack(z["hist_ptr"], z["hist_items"]),
        z["test"],
        bool(z["val_held_out"]),
    )


# ----------------------------------------------------------------------------------------------
# Metrics


def hr_ndcg_from_ranks(ranks: np.ndarray):
    """ranks: 0-based rank of each user's test item (-1 or >= K: not in the top K)."""
    hit = (ranks >= 0) & (ranks < K)
    ndcg = np.where(hit, 1.0 / np.log2(np.where(hit, ranks, 0) + 2.0), 0.0)
    return float(hit.mean()), float(ndcg.mean())


def ranks_from_topk(topk: np.ndarray, test: np.ndarray) -> np.ndarray:
    """topk: users x K item indices (-1 = empty); returns each test item's position or -1."""
    match = topk == test[:, None]
    return np.where(match.any(axis=1), match.argmax(axis=1), -1)


# ----------------------------------------------------------------------------------------------
# The numpy calibration model


def transition_ranks(split: Split, window: int = 10, decay: float = 0.5) -> np.ndarray:
    """Rank of each test item under the decayed transition-count model (ties count against)."""
    import scipy.sparse as sp

    n = split.n_items
    rows, cols, vals = [], [], []
    for s in split.fit:
        for d in range(1, window + 1):
            if len(s) > d:
                rows.append(s[:-d])
                cols.append(s[d:])
                vals.append(np.full(len(s) - d, decay ** (d - 1)))
    if rows:
        counts = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )
    else:
        counts = sp.csr_matrix((n, n))
    counts.sum_duplicates()
    hr, hc, hv = [], [], []
    for u, h in enumerate(split.hist):
        last = h[-window:][::-1]
        hr.append(np.full(len(last), u))
        hc.append(last)
        hv.append(decay ** np.arange(len(last)))
    hist_w = sp.csr_matrix(
        (np.concatenate(hv), (np.concatenate(hr), np.concatenate(hc))), shape=(len(split.hist), n)
    )
    scores = (hist_w @ counts).tocsr()
    ranks = np.full(len(split.hist), -1, dtype=np.int64)
    seen = np.zeros(n, dtype=bool)
    for u in range(len(split.hist)):
        lo, hi = scores.indptr[u], scores.indptr[u + 1]
        items, vals_u = scores.indices[lo:hi], scores.data[lo:hi]
        target = split.test[u]
        pos = np.flatnonzero(items == target)
        if len(pos) == 0 or vals_u[pos[0]] <= 0:
            continue  # score 0: tied with every unscored item, so not in the top K
        seen[split.hist[u]] = True
        if not seen[target]:
            better = (vals_u >= vals_u[pos[0]]) & ~seen[items] & (items != target)
            ranks[u] = int(better.sum())
        seen[split.hist[u]] = False
    return ranks


# ----------------------------------------------------------------------------------------------
# RecTools


def last_item_mask(interactions, **_kwargs):
    """Validation mask for RecTools: each user's latest interaction (the validation item)."""
    from rectools import Columns

    rank = interactions.groupby(Columns.User, sort=False)[Columns.Datetime].rank(
        method="first", ascending=False
    )
    return (rank == 1).to_numpy()


def rectools_config(model: str, dataset: str) -> dict:
    if model == "rectools-sasrec-paper":
        return dict(
            n_blocks=2,
            n_heads=1,
            n_factors=64,
            dropout_rate=0.1,
            session_max_len=PAPER_MAX_LEN[dataset],
            loss="softmax",
            lr=0.001,
            batch_size=128,
            max_epochs=100,
            patience=10,
        )
    # RecTools' defaults (SASRecModel() / BERT4RecModel() with no arguments): 3 epochs.
    return dict(max_epochs=3, patience=None)


def run_rectools(
    split: Split, model: str, cpu_cap_s: float, seed: int, threads: int, deadline: float | None
) -> dict:
    import pandas as pd
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import Callback, EarlyStopping, ModelCheckpoint
    from rectools import Columns
    from rectools.dataset import Dataset
    from rectools.models import BERT4RecModel, SASRecModel

    torch.set_num_threads(threads)
    pl.seed_everything(seed, workers=True)
    cfg = rectools_config(model, split.name)
    max_epochs, patience = cfg.pop("max_epochs"), cfg.pop("patience")

    # The test history is the model's input at recommend time; its last item is the
    # validation item, which RecTools then holds out of training (get_val_mask_func).
    lens = np.array([len(h) for h in split.hist])
    users = np.repeat(split.user_ids, lens)
    items = split.item_ids[np.concatenate(split.hist)]
    # Ordinal times (0, 1, 2, ... per user) keep ties in file order.
    pos = np.concatenate([np.arange(n) for n in lens])
    df = pd.DataFrame(
        {
            Columns.User: users,
            Columns.Item: items,
            Columns.Weight: 1.0,
            Columns.Datetime: pd.to_datetime(pos, unit="s"),
        }
    )
    dataset = Dataset.construct(df)
    hold_out_val = split.val_held_out or patience is not None

    class EpochLog(Callback):
        def __init__(self):
            self.val_losses = []

        def on_validation_epoch_end(self, trainer, pl_module):
            if not trainer.sanity_checking and "val_loss" in trainer.callback_metrics:
                self.val_losses.append(float(trainer.callback_metrics["val_loss"]))

    class CpuBudget(Callback):
        """Stops training after the batch that takes the fit's CPU seconds (user + system, all
        threads of this process, counted from the start of ``fit``) to ``cpu_cap_s``, or that
        ends past the run's wall deadline. CPU seconds hardly depend on the machine's load, so
        the cap is the same budget on a busy and on a quiet machine. A stop inside an epoch
        loses that epoch's partial work when the best checkpoint is restored; its CPU counts."""

        def __init__(self):
            self.reason = None

        def on_train_batch_end(self, trainer, *_args):
            if cpu_seconds() - FIT_CPU0[0] >= cpu_cap_s:
                self.reason = "cpu"
            elif deadline is not None and time.time() >= deadline:
                self.reason = "deadline"
            if self.reason:
                trainer.should_stop = True

    ckpt_dir = tempfile.mkdtemp(prefix="seq_peers_ckpt_")

    def get_trainer():
        callbacks = [EpochLog(), CpuBudget()]
        if patience is not None:
            callbacks.append(
                ModelCheckpoint(
                    dirpath=ckpt_dir,
                    monitor="val_loss",
                    mode="min",
                    save_top_k=1,
                    save_weights_only=True,
                )
            )
            callbacks.append(EarlyStopping(monitor="val_loss", mode="min", patience=patience))
        trainer = pl.Trainer(
            max_epochs=max_epochs,
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=patience is not None,
            num_sanity_val_steps=0,
            # Without early stopping the validation pass is only overhead (a forward over
            # every user); with it, at most 10,000 validation users, as the paper's
            # validation_size (the first ones: the loader does not shuffle).
            limit_val_batches=(
                0 if patience is None else math.ceil(10_000 / cfg.get("batch_size", 128))
            ),
            callbacks=callbacks,
        )
        return trainer

    cls = BERT4RecModel if model == "rectools-bert4rec" else SASRecModel
    est = cls(
        get_trainer_func=get_trainer,
        get_val_mask_func=last_item_mask if hold_out_val else None,
        recommend_torch_device="cpu",
        **cfg,
    )
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    FIT_CPU0[0] = cpu0
    est.fit(dataset)
    # RecTools fits a deep copy of the trainer (and so of its callbacks): read that one.
    trainer = est.fit_trainer
    log = next(c for c in trainer.callbacks if isinstance(c, EpochLog))
    budget = next(c for c in trainer.callbacks if isinstance(c, CpuBudget))
    restored = None
    if patience is not None:
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if best:
            est.load_weights_from_checkpoint(best)
            restored = os.path.basename(best)
    train_wall, train_cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    shutil.rmtree(ckpt_dir, ignore_errors=True)

    epochs_done = int(trainer.current_epoch)
    stopped_early = any(
        isinstance(c, EarlyStopping) and c.stopped_epoch > 0 for c in trainer.callbacks
    )
    capped = budget.reason is not None
    reco = est.recommend(
        users=split.user_ids, dataset=dataset, k=K, filter_viewed=True, add_rank_col=True
    )
    uix = {u: i for i, u in enumerate(split.user_ids.tolist())}
    iix = {it: i for i, it in enumerate(split.item_ids.tolist())}
    topk = np.full((len(split.user_ids), K), -1, dtype=np.int64)
    for u, it, r in zip(reco[Columns.User], reco[Columns.Item], reco[Columns.Rank], strict=True):
        if 1 <= r <= K:
            topk[uix[u], r - 1] = iix[it]
    hr, nd = hr_ndcg_from_ranks(ranks_from_topk(topk, split.test))
    val_losses = log.val_losses
    # Epochs actually trained, counting a capped partial epoch by its batches: CPU seconds per
    # epoch then extrapolate a capped run (the load changes wall seconds, hardly CPU seconds).
    batches_per_epoch = trainer.num_training_batches
    epochs_trained = (
        trainer.global_step / batches_per_epoch
        if isinstance(batches_per_epoch, int) and batches_per_epoch > 0
        else None
    )
    cpu_per_epoch = train_cpu / epochs_trained if epochs_trained else None
    note = f"{epochs_trained:.3g} ep" if epochs_trained is not None else f"{epochs_done} ep"
    if budget.reason == "cpu":
        note += f", stopped at the CPU cap {cpu_cap_s:.0f} s ({trainer.global_step} batches)"
    elif budget.reason == "deadline":
        note += (
            f", stopped by its wall deadline (--deadline / --stop-by) at {train_cpu:.0f} CPU s, "
            f"under its CPU cap "
            f"{cpu_cap_s:.0f} s ({trainer.global_step} batches)"
        )
    if stopped_early:
        note += ", early stop"
    if restored:
        best_epoch = int(np.argmin(val_losses)) + 1 if val_losses else None
        note += f", best ep {best_epoch}"
    if cpu_per_epoch:
        note += f"; {cpu_per_epoch:.0f} CPU s/epoch"
    return dict(
        hr10=hr,
        ndcg10=nd,
        train_wall_s=train_wall,
        train_cpu_s=train_cpu,
        epochs=epochs_done,
        global_steps=int(trainer.global_step),
        batches_per_epoch=batches_per_epoch if isinstance(batches_per_epoch, int) else None,
        epochs_trained=epochs_trained,
        cpu_s_per_epoch=cpu_per_epoch,
        capped=capped,
        stop_reason=budget.reason,
        cpu_cap_s=cpu_cap_s,
        stopped_early=stopped_early,
        val_losses=val_losses,
        config={
            **cfg,
            "max_epochs": max_epochs,
            "patience": patience,
            "hold_out_validation_item": hold_out_val,
        },
        note=note,
    )


# How long a RecTools worker may go on after the run's deadline (its training has stopped by
# then; this is for restoring weights and recommending) before it is killed.
DEADLINE_GRACE_S = 120

# CPU seconds of this process when ``fit`` started (read by the CpuBudget callback, which
# RecTools deep-copies with the trainer, so it cannot hold the value itself).
FIT_CPU0 = [0.0]


def peak_rss_mb(pid: int):
    """The process's resident-memory high-water mark (VmHWM), in MiB; None once it is gone.

    Not ``ru_maxrss``: Linux carries the parent's high-water mark into a child across exec.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker(spec_path: str) -> None:
    """Child process: trains one model on one saved split and writes its result JSON."""
    with open(spec_path) as f:
        spec = json.load(f)
    split = load_split(spec["split"])
    model = spec["model"]
    if model == "numpy-transition":
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        ranks = transition_ranks(split)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        hr, nd = hr_ndcg_from_ranks(ranks)
        # Counting and scoring are one step here, so "train" includes scoring every user.
        res = dict(
            hr10=hr,
            ndcg10=nd,
            train_wall_s=wall,
            train_cpu_s=cpu,
            note="numpy; train = count + score all users",
        )
    else:
        res = run_rectools(
            split, model, spec["cpu_cap_s"], spec["seed"], spec["threads"], spec["deadline"]
        )
    res["peak_rss_mb"] = peak_rss_mb(os.getpid())
    tmp = spec["result"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f)
    os.replace(tmp, spec["result"])


def run_child(cmd, env=None, timeout=None):
    """Runs a command; returns (returncode, stdout, stderr, wall s, CPU s, peak RSS MiB).

    A command still running after ``timeout`` seconds is killed (return code -9).

    CPU seconds come from wait4 (user + system, all threads); the peak RSS is polled from
    /proc every 20 ms (see ``peak_rss_mb``).
    """
    import threading

    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        peak = [0.0]
        done = threading.Event()

        def poll():
            while not done.is_set():
                rss = peak_rss_mb(proc.pid)
                if rss is not None:
                    peak[0] = max(peak[0], rss)
                done.wait(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        killer = threading.Timer(timeout, proc.kill) if timeout else None
        if killer:
            killer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        except KeyboardInterrupt:
            proc.kill()
            raise
        finally:
            done.set()
            poller.join()
            if killer:
                killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        return (
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            wall,
            ru.ru_utime + ru.ru_stime,
            peak[0] or None,
        )


def run_worker(split_path, model, cpu_cap_s, seed, threads, workdir, deadline):
    # one file per data set and model: a killed worker must not leave another's result behind
    tag = f"{os.path.splitext(os.path.basename(split_path))[0]}-{model}"
    spec_path = os.path.join(workdir, f"{tag}.spec.json")
    result = os.path.join(workdir, f"{tag}.result.json")
    if os.path.exists(result):
        os.remove(result)
    with open(spec_path, "w") as f:
        json.dump(
            dict(
                split=split_path,
                model=model,
                cpu_cap_s=cpu_cap_s,
                deadline=deadline,
                seed=seed,
                threads=threads,
                result=result,
            ),
            f,
        )
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    # Training stops itself at the deadline; what follows (restoring the best weights,
    # recommending to every user) gets DEADLINE_GRACE_S more before the worker is killed.
    timeout = None if deadline is None else max(1.0, deadline + DEADLINE_GRACE_S - time.time())
    rc, out, err, wall, cpu, rss = run_child(
        [sys.executable, os.path.abspath(__file__), "--worker", spec_path],
        env=env,
        timeout=timeout,
    )
    if rc == -9:
        return {"model": model, "error": f"killed {DEADLINE_GRACE_S} s after the run's deadline"}
    if rc != 0 or not os.path.exists(result):
        tail = "\n".join(err.strip().splitlines()[-5:])
        return dict(model=model, error=f"worker exited {rc}: {tail}")
    with open(result) as f:
        res = json.load(f)
    res["model"] = model
    res["process_wall_s"] = wall
    res["process_cpu_s"] = cpu
    return res


# ----------------------------------------------------------------------------------------------
# recs


def find_recs(explicit: str | None) -> str | None:
    if explicit:
        return explicit if os.path.exists(explicit) else None
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    path = os.path.join(target, "release", "recs")
    return path if os.path.exists(path) else None


def recs_protocol_args(dataset: str, path: str) -> list[str]:
    """The ``recs eval`` arguments that select this data set's file and protocol.

    S1 and B1: fit without each user's last two items, the test history holds the second-last
    (``seq-loo-published``), as the other models here. P3: fit on all but the last item
    (``seq-loo``); a model with early stopping holds the newest fit item out as its validation
    item, as RecTools' early-stopped configuration does.
    """
    split = "seq-loo" if dataset == "p3" else "seq-loo-published"
    return ["--sequences", path, "--split", split, "--k", str(K)]


def recs_supports_sequences(recs: str) -> bool:
    rc, out, err, *_ = run_child([recs, "eval", "--help"])
    return rc == 0 and "--sequences" in out


def run_recs(
    recs: str,
    dataset: str,
    path: str,
    model: str,
    threads: int,
    workdir: str,
    timeout: float | None,
) -> dict:
    js = os.path.join(workdir, f"recs-{model.replace(':', '_').replace(',', '_')}.json")
    cmd = [
        recs,
        "eval",
        *recs_protocol_args(dataset, path),
        "--models",
        model,
        "--quiet",
        "--json",
        js,
    ]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    rc, out, err, wall, cpu, rss = run_child(cmd, env=env, timeout=timeout)
    row = dict(model=f"recs:{model}", command=" ".join(cmd))
    if rc == -9:
        row["error"] = f"killed after {wall:.0f} s (the run's deadline)"
        return row
    if rc != 0 or not os.path.exists(js):
        row["error"] = f"recs eval exited {rc}: {err.strip().splitlines()[-1:] or ''}"
        return row
    with open(js) as f:
        reports = json.load(f)
    rep = reports[0]
    row.update(
        hr10=rep["summary"].get(f"hr@{K}"),
        ndcg10=rep["summary"].get(f"ndcg@{K}"),
        train_wall_s=rep["timings"].get("train_seconds"),
        # recs reports no training CPU time: the whole process's (load + train + eval) is an
        # upper bound.
        train_cpu_s=cpu,
        cpu_is_process=True,
        process_wall_s=wall,
        process_cpu_s=cpu,
        peak_rss_mb=rss,
        n_users=rep.get("n_users"),
        n_items=rep.get("n_items"),
        note="CPU/RSS: whole recs eval process",
    )
    return row


def find_recs_example(explicit: str | None) -> str | None:
    """The release build of ``examples/sasrec.rs`` (recs's SASRec on s1/b1), if built."""
    if explicit:
        return explicit if os.path.exists(explicit) else None
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    path = os.path.join(target, "release", "examples", "sasrec")
    return path if os.path.exists(path) else None


def run_recs_example(
    binary: str, dataset: str, data_dir: str, keys: list[str], threads: int, timeout: float | None
) -> dict:
    """recs's SASRec through ``examples/sasrec.rs`` on s1 / b1: its own loader, the same
    protocol as here (train = all but the last two items, the second-last is the validation
    item for early stopping, test history = train + validation item, every item ranked, the
    history removed, ties against the test item). Its last stdout line reads ``... test HR@10
    x NDCG@10 y ... | train wall Ns, epochs e (best b) | params``."""
    import re

    cmd = [binary, dataset, *keys]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), RECS_DATA=data_dir)
    rc, out, err, wall, cpu, rss = run_child(cmd, env=env, timeout=timeout)
    row = dict(model="recs:sasrec", command=" ".join(cmd))
    if rc == -9:
        row["error"] = f"killed after {wall:.0f} s (the run's deadline)"
        return row
    m = re.search(
        r"test HR@10 ([0-9.]+) NDCG@10 ([0-9.]+).*train wall ([0-9.]+)s, epochs "
        r"(\d+) \(best (\S+)\)",
        out,
    )
    if rc != 0 or not m:
        row["error"] = f"exited {rc}: {err.strip().splitlines()[-1:] or out[-200:]}"
        return row
    row.update(
        hr10=float(m.group(1)),
        ndcg10=float(m.group(2)),
        train_wall_s=float(m.group(3)),
        train_cpu_s=cpu,
        cpu_is_process=True,
        process_wall_s=wall,
        process_cpu_s=cpu,
        peak_rss_mb=rss,
        epochs=int(m.group(4)),
        note=f"examples/sasrec.rs {' '.join(keys)}; {m.group(4)} ep, best {m.group(5)}; "
        "CPU/RSS: whole process",
        stdout_tail=out.strip().splitlines()[-1],
    )
    return row


# ----------------------------------------------------------------------------------------------
# Output


def fmt(x, spec):
    return "–" if x is None else format(x, spec)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def print_table(name: str, info: dict, rows: list, file=sys.stdout) -> None:
    ok = [r for r in rows if "error" not in r]
    recs_rows = [r for r in ok if r["model"].startswith("recs:") and r.get("ndcg10") is not None]
    best = max(recs_rows, key=lambda r: r["ndcg10"]) if recs_rows else None
    print(f"\n### {name}: {info['description']}", file=file)
    print(f"{info['n_users']} users, {info['n_items']} items; K={K}", file=file)
    if best:
        print(
            f"ratios = recs's best ({best['model']}) / this row: quality > 1 and cost < 1 favour "
            "recs",
            file=file,
        )
    print("", file=file)
    print(
        "| model | HR@10 | NDCG@10 | train wall s | train CPU s | peak RSS MB | "
        "HR ratio | NDCG ratio | wall ratio | CPU ratio | RSS ratio | notes |",
        file=file,
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|", file=file)
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | error: {r['error'][:120]} |||||||||||", file=file)
            continue
        cpu = fmt(r.get("train_cpu_s"), ".1f") + ("*" if r.get("cpu_is_process") else "")
        cells = [
            r["model"],
            fmt(r.get("hr10"), ".4f"),
            fmt(r.get("ndcg10"), ".4f"),
            fmt(r.get("train_wall_s"), ".1f"),
            cpu,
            fmt(r.get("peak_rss_mb"), ".0f"),
        ]
        for key in ("hr10", "ndcg10", "train_wall_s", "train_cpu_s", "peak_rss_mb"):
            cells.append(fmt(ratio(best.get(key), r.get(key)) if best else None, ".2f"))
        cells.append(r.get("note", "") + ("; reused" if r.get("reused_from") else ""))
        print("| " + " | ".join(cells) + " |", file=file)
    if any(r.get("cpu_is_process") for r in ok):
        print(
            "\n\\* the whole recs process (load + train + evaluate): an upper bound on "
            "training CPU.",
            file=file,
        )
    if not best:
        print("\nrecs: not available (no recs rows; ratios omitted)", file=file)
    sys.stdout.flush()


def load_avg() -> list:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def versions() -> dict:
    """Package versions, read from their metadata (importing torch here would add ~0.5 GB to
    this process, whose memory high-water mark the children would then inherit)."""
    from importlib import metadata

    v = {"python": platform.python_version()}
    for dist in ("numpy", "scipy", "pandas", "torch", "pytorch-lightning", "rectools"):
        try:
            v[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            v[dist] = None
    return v


@dataclass
class CpuCap:
    """A RecTools training budget in CPU seconds: ``seconds``, or ``times`` × recs's SASRec
    train CPU seconds measured earlier in the same run on the same data set."""

    seconds: float | None = None
    times: float | None = None

    def resolve(self, recs_sasrec_cpu: float | None) -> float | None:
        if self.seconds is not None:
            return self.seconds
        return None if recs_sasrec_cpu is None else self.times * recs_sasrec_cpu

    def __str__(self) -> str:
        return f"{self.seconds:g}" if self.seconds is not None else f"{self.times:g}x"


def parse_cpu_caps(text: str) -> dict:
    """``s1:rectools-sasrec-paper=3130,s1=626,p3:rectools-sasrec-paper=5x,*=1x`` ->
    {key: CpuCap}. A key is DATASET:MODEL, DATASET or ``*``; a value is CPU seconds or ``Nx``
    (N times recs's SASRec train CPU seconds on that data set, measured first in this run)."""
    caps = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        try:
            if not sep or not key:
                raise ValueError
            if value.endswith("x"):
                caps[key] = CpuCap(times=float(value[:-1]))
            else:
                caps[key] = CpuCap(seconds=float(value))
        except ValueError:
            raise SystemExit(
                f"--cpu-cap: expected KEY=SECONDS or KEY=Nx (KEY: DATASET:MODEL, DATASET or *), "
                f"got {part!r}"
            ) from None
    return caps


def cpu_cap_for(caps: dict, dataset: str, model: str) -> CpuCap:
    for key in (f"{dataset}:{model}", dataset, "*"):
        if key in caps:
            return caps[key]
    return CpuCap(times=5.0)


def parse_deadline(text: str | None) -> float | None:
    """``HH:MM`` (UTC, today) -> Unix time."""
    if not text:
        return None
    try:
        hh, mm = (int(x) for x in text.split(":"))
        now = dt.datetime.now(dt.timezone.utc)
        return now.replace(hour=hh, minute=mm, second=0, microsecond=0).timestamp()
    except ValueError:
        raise SystemExit(f"--deadline: expected HH:MM (UTC), got {text!r}") from None


def wait_for(path: str | None, minutes: float) -> None:
    """Waits up to ``minutes`` for a named binary that is still being built elsewhere."""
    end = time.time() + minutes * 60
    while path and not os.path.exists(path) and time.time() < end:
        time.sleep(10)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--datasets", default="s1,b1,p3", help="comma-separated: s1,b1,p3")
    ap.add_argument(
        "--data-dir",
        default=os.environ.get("RECS_DATA_DIR", os.path.join(REPO, "..", "shared", "data")),
    )
    ap.add_argument(
        "--cpu-cap",
        default="*=5x",
        help="CPU-second budget of each RecTools training, comma-separated KEY=VALUE; KEY is "
        "DATASET:MODEL, DATASET or *; VALUE is CPU seconds or Nx = N times recs's SASRec "
        "train CPU seconds on that data set (then recs runs first). Default *=5x.",
    )
    ap.add_argument(
        "--deadline",
        default=None,
        help="HH:MM UTC: trainings still running then stop (RecTools keeps its best weights, "
        "recs is killed), models not started are not run; each row says so",
    )
    ap.add_argument(
        "--stop-by",
        default="",
        help="earlier deadlines for some RecTools trainings, KEY=HH:MM (UTC) comma-separated, "
        "KEY as in --cpu-cap: so that a long one leaves time for the rows after it",
    )
    ap.add_argument("--skip-rectools", action="store_true", help="no RecTools models")
    ap.add_argument(
        "--models",
        default=None,
        help="only these peer models, in this order (comma-separated: numpy-transition,"
        + ",".join(RECTOOLS_MODELS)
        + "); the token recs places the recs rows (default: last, or before the first RecTools "
        "model whose CPU cap is relative to recs)",
    )
    ap.add_argument(
        "--skip",
        default="",
        help="DATASET:MODEL pairs not to run, comma-separated (e.g. "
        "b1:rectools-sasrec, s1:recs:sasrec); listed in the table as skipped",
    )
    ap.add_argument("--recs", default=None, help="recs binary (default: target/release/recs)")
    ap.add_argument(
        "--recs-example",
        default=None,
        help="recs's SASRec example binary (default: target/release/examples/sasrec, if built); "
        "used for recs:sasrec on s1 and b1",
    )
    ap.add_argument(
        "--recs-example-args",
        default="",
        help="key=value arguments for it, space-separated; DATASET:key=value for one data set",
    )
    ap.add_argument(
        "--recs-models",
        default="transition,sasrec",
        help="recs model specs, comma-separated (one process each; sasrec through the example "
        "binary on s1/b1 when it is there)",
    )
    ap.add_argument(
        "--wait-for-recs",
        type=float,
        default=0,
        help="minutes to wait for a --recs / --recs-example binary that is not there yet",
    )
    ap.add_argument(
        "--sample-users",
        type=int,
        default=None,
        help="keep only the first N users of each file (smoke runs)",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None, help="write the results as JSON to this file")
    ap.add_argument(
        "--table", default=None, help="print the tables of a JSON written by --out, and exit"
    )
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        worker(args.worker)
        return 0
    if args.table:
        with open(args.table) as f:
            saved = json.load(f)
        m = saved["meta"]
        print(
            f"run {m['started']} .. {m.get('finished', '(unfinished)')}, load average at start "
            f"{m['load_avg_start']}, {m['threads']} threads, CPU caps {m['cpu_caps']}"
        )
        for d, info in saved["datasets"].items():
            print_table(d, info, info["rows"])
        return 0

    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = [d for d in names if d not in DATASETS]
    if unknown:
        raise SystemExit(f"--datasets: unknown {unknown}; expected some of {list(DATASETS)}")
    caps = parse_cpu_caps(args.cpu_cap)
    deadline = parse_deadline(args.deadline)
    stop_by = {}
    for part in (p.strip() for p in args.stop_by.split(",") if p.strip()):
        key, _, hhmm = part.partition("=")
        stop_by[key] = parse_deadline(hhmm)
    skip = {p.strip() for p in args.skip.split(",") if p.strip()}
    present = [d for d in names if os.path.exists(os.path.join(args.data_dir, DATASETS[d][0]))]
    for d in names:
        if d not in present:
            print(
                f"skipping {d}: {os.path.join(args.data_dir, DATASETS[d][0])} not found "
                "(set --data-dir or RECS_DATA_DIR)"
            )
    if not present:
        print("no data: nothing to do")
        return 0

    peer_models = ["numpy-transition", *RECTOOLS_MODELS]
    if args.models:
        peer_models = [m for m in args.models.split(",") if m]
        bad = [m for m in peer_models if m not in ("numpy-transition", "recs", *RECTOOLS_MODELS)]
        if bad:
            raise SystemExit(f"--models: unknown {bad}")
    if args.skip_rectools:
        peer_models = [m for m in peer_models if not m.startswith("rectools")]
    elif any(m.startswith("rectools") for m in peer_models):
        from importlib.util import find_spec

        missing = [m for m in ("rectools", "torch", "pytorch_lightning") if find_spec(m) is None]
        if missing:
            print(
                f"rectools: not available (no {', '.join(missing)}); pip install -r "
                "benches/seq_peers_requirements.txt. Running without it."
            )
            peer_models = [m for m in peer_models if not m.startswith("rectools")]

    recs_models = [m for m in args.recs_models.split(",") if m] if args.recs_models else []
    example_keys = args.recs_example_args.split()
    meta = dict(
        started=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        command=" ".join([os.path.basename(sys.executable), *sys.argv]),
        load_avg_start=load_avg(),
        cpus=os.cpu_count(),
        threads=args.threads,
        seed=args.seed,
        cpu_caps=args.cpu_cap,
        deadline=args.deadline,
        stop_by=args.stop_by,
        sample_users=args.sample_users,
        versions=versions(),
    )
    print(
        f"seq_peers: load average {meta['load_avg_start']}, {args.threads} threads, "
        f"RecTools CPU caps {args.cpu_cap}, deadline {args.deadline or 'none'} UTC",
        flush=True,
    )
    results = dict(meta=meta, datasets={})

    def past_deadline() -> bool:
        return deadline is not None and time.time() >= deadline

    def time_left() -> float | None:
        return None if deadline is None else max(1.0, deadline - time.time())

    recs_checked = {}

    def recs_binaries():
        """(recs, example), found once (waiting for them if asked) and checked."""
        if not recs_checked:
            if args.wait_for_recs:
                wait_for(args.recs, args.wait_for_recs)
                wait_for(args.recs_example, args.wait_for_recs)
            recs = find_recs(args.recs)
            if recs is None:
                print(
                    "recs: not available (no release binary; cargo build --release -p recs-server)"
                )
            elif not recs_supports_sequences(recs):
                print(f"recs: not available ({recs} eval has no --sequences protocols)")
                recs = None
            example = find_recs_example(args.recs_example)
            if example is None:
                print(
                    "recs sasrec example: not built (cargo build --release -p recs-benches "
                    "--example sasrec)"
                )
            recs_checked.update(recs=recs, example=example)
            meta.update(recs=recs, recs_example=example)
        return recs_checked["recs"], recs_checked["example"]

    def run_recs_rows(d, path, data_dir, rows):
        recs, example = recs_binaries()
        keys = [
            k.split(":", 1)[1] if ":" in k.split("=", 1)[0] else k
            for k in example_keys
            if ":" not in k.split("=", 1)[0] or k.startswith(f"{d}:")
        ]
        for m in recs_models:
            name = f"recs:{m}"
            if f"{d}:{name}" in skip:
                rows.append(dict(model=name, error="skipped (--skip)"))
                continue
            if past_deadline():
                rows.append(dict(model=name, error="not run: past the run's deadline"))
                continue
            use_example = m == "sasrec" and example is not None and d in ("s1", "b1")
            if not use_example and recs is None:
                rows.append(dict(model=name, error="no recs binary"))
                continue
            print(f"[{d}] {name} ...", flush=True)
            if use_example:
                row = run_recs_example(example, d, data_dir, keys, args.threads, time_left())
            else:
                row = run_recs(recs, d, path, m, args.threads, workdir, time_left())
            rows.append(row)
            print(
                f"[{d}] {name}: "
                + (
                    row.get("error")
                    or f"HR@10 {row['hr10']:.4f} NDCG@10 {row['ndcg10']:.4f} "
                    f"train {row['train_wall_s']:.1f} s, process CPU {row['train_cpu_s']:.0f} s"
                ),
                flush=True,
            )
            if args.out:
                write_json(args.out, results)

    workdir = tempfile.mkdtemp(prefix="seq_peers_")
    try:
        for d in present:
            rel, sep, timed, desc = DATASETS[d]
            path = os.path.join(args.data_dir, rel)
            data_dir = args.data_dir
            if args.sample_users:
                # same layout as the data directory, for the programs that take the directory
                data_dir = os.path.join(workdir, "data")
                sampled = os.path.join(data_dir, rel)
                os.makedirs(os.path.dirname(sampled), exist_ok=True)
                sample_file(path, sampled, sep, args.sample_users)
                path = sampled
            try:
                split = make_split(d, *read_interactions(path, sep, timed))
            except DataError as e:
                print(f"skipping {d}: {e}")
                continue
            split_path = os.path.join(workdir, f"{d}.npz")
            save_split(split, split_path)
            info = dict(
                description=desc,
                file=path,
                n_users=len(split.user_ids),
                n_items=split.n_items,
                load_avg_start=load_avg(),
                started=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            )
            rows = []
            info["rows"] = rows
            results["datasets"][d] = info
            d_caps = {m: cpu_cap_for(caps, d, m) for m in peer_models if m.startswith("rectools")}
            recs_done = False
            for m in peer_models:
                # recs runs where --models places it, or before the first cap relative to it
                if not recs_done and (m == "recs" or (m in d_caps and d_caps[m].seconds is None)):
                    run_recs_rows(d, path, data_dir, rows)
                    recs_done = True
                if m == "recs":
                    continue
                recs_sasrec_cpu = next(
                    (r.get("train_cpu_s") for r in rows if r["model"] == "recs:sasrec"), None
                )
                if f"{d}:{m}" in skip:
                    rows.append(dict(model=m, error="skipped (--skip)"))
                    print(f"[{d}] {m}: skipped (--skip)")
                    continue
                if past_deadline():
                    rows.append(dict(model=m, error="not run: past the run's deadline"))
                    continue
                cap = d_caps[m].resolve(recs_sasrec_cpu) if m in d_caps else None
                if m in d_caps and cap is None:
                    rows.append(dict(model=m, error=f"no CPU cap: {d_caps[m]} of no recs:sasrec"))
                    continue
                print(f"[{d}] {m} ..." + (f" (CPU cap {cap:.0f} s)" if cap else ""), flush=True)
                model_deadline = next(
                    (stop_by[k] for k in (f"{d}:{m}", d, "*") if k in stop_by), None
                )
                if model_deadline is None or (deadline is not None and deadline < model_deadline):
                    model_deadline = deadline
                row = run_worker(
                    split_path, m, cap, args.seed, args.threads, workdir, model_deadline
                )
                if cap is not None:
                    row["cpu_cap_spec"] = str(d_caps[m])
                rows.append(row)
                if args.out:  # after every model, so a long run keeps what it has
                    write_json(args.out, results)
                print(
                    f"[{d}] {m}: "
                    + (
                        row.get("error")
                        or f"HR@10 {row['hr10']:.4f} NDCG@10 {row['ndcg10']:.4f} "
                        f"train {row['train_wall_s']:.1f} s, {row['train_cpu_s']:.0f} CPU s "
                        f"({row.get('note', '')})"
                    ),
                    flush=True,
                )
            if not recs_done:
                run_recs_rows(d, path, data_dir, rows)
            info["load_avg_end"] = load_avg()
            info["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            print_table(d, info, rows)
            if args.out:
                write_json(args.out, results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["meta"]["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    results["meta"]["load_avg_end"] = load_avg()
    if args.out:
        write_json(args.out, results)
        print(f"\nwrote {args.out}")
    return 0


def write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
