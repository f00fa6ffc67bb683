"""Experiments made of many trainings: running them as processes (`runner`), the statistics, tables
and plots of a comparison (`report`), comparing configs (`compare`) and how many labels a style
needs (`learning_curve`)."""
