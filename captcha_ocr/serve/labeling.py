"""Label a folder of captchas with a model's help: the state behind the labeling page.

`LabelSession.open(folder, model)` reads every image of the folder once with
the model and queues the ones that `labels.csv` does not list yet, least
confident first: those are the readings most worth a person's time, and the
confident ones go fastest at the end. Each label, skip and undo changes the
state, and each label or undo rewrites `labels.csv` atomically (the folder
format that `train` reads with `data.source: folder`), so a killed server loses
no label and a restarted one resumes where it stopped. Rows of `labels.csv`
for files that are not in the folder are kept as they were.

Labels are checked against the session's charset: the model's, widened only
by the command's `--charset` and by characters the person confirms once on
the page (`add_chars`); the pad character, spaces and control characters are
never labels. Files that are links leading out of the folder are neither
read, served nor labeled, and temporary files that a killed server left
behind are removed at start.
"""

from __future__ import annotations

import json
import shlex
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path


from captcha_ocr.core.atomic import stale_temporaries
from captcha_ocr.core.charset import DEFAULT_CHARS, DEFAULT_PAD, covering
from captcha_ocr.core.cli import logger
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import image_files, open_image
from captcha_ocr.data.folder import LABELS_CSV, read_labels_csv, write_labels_csv
from captcha_ocr.inference.readers import Reader
from captcha_ocr.model.decode import Prediction

MAX_LABEL_LENGTH = 64
MIN_LABELS_TO_TRAIN = 20  # data.split sets a tenth aside to validate and a tenth to test: 2 each


class UnknownCharacters(UserError):
    """A label with characters outside the session's charset (`chars`), which the person may confirm."""

    def __init__(self, message: str, chars: str):
        super().__init__(message)
        self.chars = chars


def check_label(text: str, pad: str = DEFAULT_PAD) -> str:
    """A label as typed -> the label to save (stripped).

    Raises:
        UserError: empty, too long, or with the pad character, spaces or control characters inside.
    """
    if len(text) > MAX_LABEL_LENGTH:  # before stripping: the API documents the length of what is sent
        raise UserError(f"the label has {len(text)} characters; at most {MAX_LABEL_LENGTH}")
    text = text.strip()
    if not text:
        raise UserError("the label is empty; type the captcha's text, or skip it")
    bad = [c for c in text if c.isspace() or unicodedata.category(c).startswith("C")]
    if bad:
        raise UserError(f"the label has {bad[0]!r} in it; labels are the captcha's characters only")
    if pad in text:
        raise UserError(f"the label has {pad!r}, the pad character (the model's 'no character here'); type the "
                        "captcha's characters only")
    return text


def _describe(chars: str) -> str:
    return "0-9A-Za-z" + chars[len(DEFAULT_CHARS):] if chars.startswith(DEFAULT_CHARS) else chars


class NothingToUndo(UserError):
    """Undo with no label given since the start (the service answers 409)."""


@dataclass
class _Change:
    file: str
    previous: str | None  # the label before this change, None if the file had none


class LabelSession:
    """The labeling queue of one folder; every method is safe to call from several threads.

    Args:
        folder: the folder of images; `labels.csv` is read from and written to it.
        reads: the model's reading of each readable image, by file name.
        unreadable: (file name, why) of images that could not be decoded.
        chars: the characters labels may use (the model's and --charset's), or None for any.
        pad: the model's pad character, which no label may use.
    """

    def __init__(self, folder: Path, reads: dict[str, Prediction], unreadable: list[tuple[str, str]],
                 chars: str | None = None, pad: str = DEFAULT_PAD):
        self.folder = folder
        self.root = folder.resolve()
        self.reads = reads
        self.unreadable = unreadable
        self.csv_path = folder / LABELS_CSV
        self.labels: dict[str, str] = dict(read_labels_csv(self.csv_path)) if self.csv_path.is_file() else {}
        self.queue = sorted((f for f in reads if f not in self.labels), key=lambda f: (reads[f].confidence, f))
        self.changes: list[_Change] = []
        self.model: tuple[str, object] | None = None  # (source, ModelSpec) of the model that pre-fills
        self._train_config: str | None = None  # the config its next round trains with (see use_model)
        self.pad = pad
        self.chars = None if chars is None else "".join(dict.fromkeys(chars))  # in order, each once
        self.confirmed = ""  # characters the person added on the page, in the order they did
        self._lock = threading.Lock()

    @classmethod
    def open(cls, folder: str | Path, reader: Reader, batch_size: int = 64, max_pixels: int | None = None,
             chars: str | None = None, pad: str = DEFAULT_PAD) -> "LabelSession":
        """Read every image of `folder` with a model and build the queue.

        Args:
            reader: the model that pre-fills the labels (`Reader.read_files` reads the folder).
            max_pixels: images larger than this are unreadable, as in the service's requests.
            chars, pad: the session's charset and the pad (see the class).

        Raises:
            UserError: the folder does not exist or holds no images.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(f"--label-folder {str(folder)!r} not found; give a folder of captcha images")
        _remove_stale_temporaries(folder)
        root = folder.resolve()
        everything = image_files(folder)
        files = [p for p in everything if p.resolve().is_relative_to(root)]
        if len(files) < len(everything):
            logger.warning(f"{folder}: left out {len(everything) - len(files)} links that lead out of the "
                           "folder (never served or labeled)")
        if not files:
            raise UserError(f"--label-folder {folder} holds no PNG, JPEG, GIF or BMP images")
        reads: dict[str, Prediction] = {}
        unreadable: list[tuple[str, str]] = []
        for path, result in reader.read_files(files, batch_size, load=lambda p: open_image(p, max_pixels=max_pixels)):
            if isinstance(result, UserError):
                unreadable.append((path.name, str(result)))
            else:
                reads[path.name] = result
        return cls(folder, reads, unreadable, chars, pad)

    def image_path(self, file: str) -> Path:
        """The path of a file of the session (only those: a name from a client never becomes a path).

        Raises:
            KeyError: not an image of this folder.
        """
        if file not in self.reads:
            raise KeyError(file)
        path = self.folder / file
        if not path.resolve().is_relative_to(self.root):  # replaced by a link out of the folder since the start
            raise KeyError(file)
        return path

    def state(self) -> dict:
        """Progress, agreement so far and the next item (None when the queue is empty)."""
        with self._lock:
            return self._state()

    def label(self, file: str, text: str, add_chars: str = "") -> dict:
        """Save `text` as the label of `file` (accepting or correcting the model) and move on.

        Args:
            add_chars: characters of `text` outside the charset that the person confirmed; they join it
                (others are ignored).

        Raises:
            KeyError: not an image of this folder.
            UnknownCharacters: characters outside the charset, not confirmed.
            UserError: a label that cannot be saved (see `check_label`).
        """
        text = check_label(text, self.pad)
        add_chars = "".join(c for c in add_chars if c in text)  # only a label's own characters join the charset
        with self._lock:
            self.image_path(file)
            allowed = self.charset()
            unknown = "".join(dict.fromkeys(c for c in text if allowed is not None and c not in allowed
                                            and c not in add_chars))
            if unknown:
                raise UnknownCharacters(
                    f"the label has {unknown[0]!r}, which is not in this session's charset ({_describe(allowed)}); "
                    f"correct the label, or confirm the character (add_chars)", unknown)
            if allowed is not None:
                self.confirmed += "".join(dict.fromkeys(c for c in add_chars if c not in allowed))
            change = _Change(file, self.labels.get(file))
            self.labels[file] = text
            self._save_or_revert(change)
            self.changes.append(change)
            if file in self.queue:
                self.queue.remove(file)
            return self._state()

    def skip(self, file: str) -> dict:
        """Put `file` at the end of the queue, unlabeled."""
        with self._lock:
            self.image_path(file)
            if file in self.queue:
                self.queue.remove(file)
                self.queue.append(file)
            return self._state()

    def undo(self) -> dict:
        """Take back the last label given in this session; its image comes first in the queue again.

        Raises:
            NothingToUndo: no label given since the start.
        """
        with self._lock:
            if not self.changes:
                raise NothingToUndo("nothing to undo: no label was given since the server started")
            change = self.changes[-1]
            current = self.labels.pop(change.file)
            if change.previous is not None:
                self.labels[change.file] = change.previous
            self._save_or_revert(_Change(change.file, current))
            self.changes.pop()
            if change.previous is None:
                self.queue.insert(0, change.file)
            return self._state()

    def _save_or_revert(self, change: _Change) -> None:
        """Write labels.csv; if that fails, put the in-memory label back as it was and say why."""
        try:
            write_labels_csv(self.csv_path, self.labels.items())
        except OSError as err:
            if change.previous is None:
                self.labels.pop(change.file, None)
            else:
                self.labels[change.file] = change.previous
            raise UserError(f"cannot write {self.csv_path}: {err.strerror or err}; nothing was saved") from None

    def _state(self) -> dict:
        compared = [f for f in self.labels if f in self.reads]
        agreed = sum(self.reads[f].text == self.labels[f] for f in compared)
        item = None
        if self.queue:
            file = self.queue[0]
            pred = self.reads[file]
            item = {"file": file, "text": pred.text, "confidence": pred.confidence,
                    "positions": [{"char": c, "confidence": p} for c, p in pred.positions]}
        labeled_here = sum(f in self.reads for f in self.labels)
        return {
            "folder": str(self.folder), "total": len(self.reads), "labeled": labeled_here,
            "remaining": len(self.queue), "unreadable": [{"file": f, "error": e} for f, e in self.unreadable],
            "agreement": {"agreed": agreed, "compared": len(compared),
                          "rate": agreed / len(compared) if compared else None},
            "can_undo": bool(self.changes), "item": item,
            "train_command": self.train_command() if len(self._trainable()) >= MIN_LABELS_TO_TRAIN else None,
            "charset": self.charset() or "",
        }

    def charset(self) -> str | None:
        """The characters labels may use now: the session's, then those confirmed (None: any)."""
        return None if self.chars is None else self.chars + self.confirmed

    def _trainable(self) -> list[str]:
        """The labels a training run can take: without the pad, spaces or control characters (a labels.csv
        written by hand, or by an older version, may have them; training skips their rows)."""
        good = []
        for label in self.labels.values():
            try:
                check_label(label, self.pad)
            except UserError:
                continue
            good.append(label)
        return good

    def use_model(self, source: str, spec) -> None:
        """Name the model that pre-fills (its path as given, and its ModelSpec), and choose once the config
        its next round trains with.

        The recipe is `finetune_ctc` (CTC) or `finetune` (shipped recipes, named) when the model has their
        input and architecture (the shipped base models and the runs fine-tuned from them), else the
        model's own training config with the folder as its data. None for a model that is not a run (an
        export or a bare .keras file) or whose config no longer loads: there is no config to train with.
        """
        from captcha_ocr.core.config import load_config
        from captcha_ocr.training.rundir import CONFIG, resolve_model

        self.model, self._train_config = (source, spec), None
        own = resolve_model(source) / CONFIG
        if not own.is_file():
            return
        recipe = "finetune_ctc" if spec.loss == "ctc" else "finetune"
        try:
            mine, theirs = load_config(own), load_config(recipe)
        except UserError:  # a run of an older version whose config no longer loads: no command
            return
        fits = mine.model == theirs.model and mine.image == theirs.image and mine.loss == theirs.loss
        self._train_config = recipe if fits else str(own)

    def train_command(self) -> str | None:
        """The next round of the loop: fine-tune the pre-filling model on the labels so far, then serve the result.

        With the config `use_model` chose; the charset and lengths are the model's, widened to every
        label given. None without such a config.
        """
        if self._train_config is None:
            return None
        source, spec = self.model
        config = self._train_config
        labels = self._trainable()
        if not labels:
            return None
        chars, low, high = covering(labels, spec.chars, (spec.min_length, spec.max_length), spec.pad)
        run_dir = f"runs/{self.folder.resolve().name or 'folder'}-{len(labels)}-labels"  # a new run each round
        q = shlex.quote
        # --set values are read as YAML: a JSON string is a YAML string whatever its characters (a charset
        # of digits, or with '#', ':' or quotes, would otherwise load as a number, a comment or fail).
        folder, chars = json.dumps(str(self.folder), ensure_ascii=False), json.dumps(chars, ensure_ascii=False)
        return (f"python -m captcha_ocr.train --config {q(config)} --init-from {q(source)} --run-dir {q(run_dir)} \\\n"
                f"    --set data.source=folder --set {q(f'data.folder={folder}')} "
                f"--set {q(f'charset.chars={chars}')} --set charset.min_length={low} --set charset.max_length={high}\n"
                f"python -m captcha_ocr.serve --model {q(run_dir)} --label-folder {q(str(self.folder))}")


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove the temporary labels.csv files (`core.atomic`) of servers that were killed while writing."""
    stale = stale_temporaries(folder / LABELS_CSV)
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        logger.info(f"{folder}: removed {len(stale)} temporary files of a server that was stopped while writing")
