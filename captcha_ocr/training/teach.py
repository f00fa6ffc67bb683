"""A student of several teachers in one command: `train_with_teachers` (`python -m captcha_ocr.train --teachers 3`).

The fine-tuning path that read best on captchas drawn by other people's code
(README, "Start here: captchas drawn by other people's code") takes four
trainings: the same run with three seeds, the three joined into one model that
reads with the mean of their probabilities (`captcha_ocr.model.ensemble`), and
a fourth run whose self-training reads are that ensemble's, made once before
its first epoch and kept to its last (`data.pseudo_teacher`,
`data.pseudo_rounds: 0`). `train_with_teachers` runs them in one run directory:

    RUN_DIR/teachers/seed-S, seed-S+1, ...   the teachers (S = train.seed), each a run of the config as given
    RUN_DIR/teachers/ensemble.keras          the teachers read as one
    RUN_DIR/                                 the student: the config with the ensemble as its teacher

Each step is an ordinary run, so running the command again resumes where it
stopped: finished teachers are kept, an interrupted one resumes from its last
epoch, and the ensemble is joined again only when a teacher changed after it.
"""

from __future__ import annotations

from pathlib import Path

from captcha_ocr.core.cli import logger
from captcha_ocr.core.config import Config
from captcha_ocr.core.errors import UserError

TEACHERS = "teachers"
ENSEMBLE = "ensemble.keras"


def check_teachers(config: Config, teachers: int) -> None:
    """Refuse, before anything trains, a config that cannot be taught by `teachers` runs of itself.

    Raises:
        UserError: fewer than two teachers, no `data.unlabeled_folder` for them to read, or a
            `data.pseudo_teacher` already set.
    """
    if teachers < 2:
        raise UserError(f"--teachers {teachers}: the student learns from two or more teachers read as one; "
                        "give --teachers 2 or more (3 is the README's recipe)")
    if not config.data.unlabeled_folder:
        raise UserError("--teachers: the teachers read the captchas of data.unlabeled_folder for their student, "
                        "and none is set; --set data.unlabeled_folder=FOLDER (images without labels)")
    if config.data.pseudo_teacher:
        raise UserError(f"--teachers trains the student's teacher, and data.pseudo_teacher is set too "
                        f"({config.data.pseudo_teacher}); remove one of the two")


def teacher_configs(config: Config, teachers: int) -> list[Config]:
    """The teachers' configs: `config` with `train.seed`, `train.seed + 1`, ..., and without `data.pseudo_soft`
    (the student's way of learning from them: they have no teacher)."""
    data = config.data.model_copy(update={"pseudo_soft": False})
    return [config.model_copy(update={"data": data,
                                      "train": config.train.model_copy(update={"seed": config.train.seed + i})})
            for i in range(teachers)]


def student_config(config: Config, ensemble: Path) -> Config:
    """`config` whose self-training reads are the ensemble's, kept from the first epoch to the last."""
    data = config.data.model_copy(update={"pseudo_teacher": str(ensemble), "pseudo_rounds": 0})
    return config.model_copy(update={"data": data})


def train_with_teachers(config: Config, run_dir: str | Path, teachers: int, *, restart: bool = False,
                        init_from: str | Path | None = None, log=logger.info) -> dict:
    """Train `teachers` runs of `config`, join them, and train their student in `run_dir`; returns its metrics.

    Args:
        config: the resolved config (with `data.unlabeled_folder`).
        run_dir: the student's run directory; the teachers go in its `teachers/` folder.
        teachers: how many teachers (two or more).
        restart: discard the teachers, their ensemble and the student first.
        init_from: where every run starts from (as `train`'s).
        log: where progress messages go.

    Returns:
        The student's metrics.json.
    """
    from captcha_ocr.core.atomic import write_atomic
    from captcha_ocr.model.ensemble import ensemble_model
    from captcha_ocr.training.fit import train
    from captcha_ocr.training.rundir import MODEL, load_run, prepare_run_dir

    check_teachers(config, teachers)
    run_dir = Path(run_dir)
    folder = run_dir / TEACHERS
    ensemble = folder / ENSEMBLE
    student = student_config(config, ensemble)
    if restart:
        ensemble.unlink(missing_ok=True)
    else:  # a run directory that holds another run is refused now, not after the teachers' hour
        prepare_run_dir(run_dir, student)
    dirs = []
    for i, teacher in enumerate(teacher_configs(config, teachers), start=1):
        dirs.append(folder / f"seed-{teacher.train.seed}")
        log(f"teacher {i} of {teachers}: {dirs[-1]} (train.seed {teacher.train.seed})")
        train(teacher, dirs[-1], restart=restart, init_from=init_from, log=log)
    made = [(d / MODEL).stat().st_mtime for d in dirs]
    if not ensemble.exists() or ensemble.stat().st_mtime < max(made):
        model = ensemble_model([load_run(d)[0] for d in dirs])
        write_atomic(ensemble, model.save)
        log(f"wrote {ensemble}: the {teachers} teachers read as one")
    log(f"the student: {run_dir}, taught by {ensemble}")
    return train(student, run_dir, restart=restart, init_from=init_from, log=log)
