"""Training a model: the run directory (`rundir`), crash-exact resume (`resume`), devices and
machines (`distribute`), the optimizer and compile step (`compile`), the weights' moving average (`averaging`),
progress lines (`progress`) and the loop itself (`fit`: `train`)."""
