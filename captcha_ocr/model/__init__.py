"""The network and what reads its output: layers (`layers`), `build_model` (`build`), the losses
(`losses`), learning-rate schedules (`schedules`), decoding logits into text (`decode`), scoring a
model on a labeled set (`scoring`), and copying weights for fine-tuning (`transfer`)."""
