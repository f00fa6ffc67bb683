"""Synthetic captchas: the seeded ImageCaptcha (`imagecaptcha`), the broad generator of many looks
(`broad`), labeled folders and sheets of them (`folders`), and fitting a generator's look to a folder
of real captchas (`style_stats`, `style_search`, `style_fit`)."""
