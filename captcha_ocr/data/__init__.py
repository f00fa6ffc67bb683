"""Input: labeled folders (`folder`), augmentation (`augment`), self-training on unlabeled captchas
(`self_training`), rendering on other machines (`service`), and the tf.data pipelines that feed
training (`pipeline`: `build_datasets`, `test_set`)."""
