"""The named choices of NN_config keys, in one leaf module (imports nothing from sepm), so that the
settings declarations (:mod:`sepm.settings`) and the code that acts on them share one list."""

#: optimizer (case-insensitive): the torch optimizers of gradient training (sepm.fitting.train)
OPTIMIZERS = ("adam", "adamw", "sgd", "lbfgs", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "radam", "asgd")
#: init_Zunger_optimizer (case-insensitive): the optimizers of the prior's fit to the Zunger form (sepm.fitting.init)
PRIOR_OPTIMIZERS = ("adam", "sgd")
#: lr_schedule: the learning-rate decays of sepm.fitting.schedule
LR_SCHEDULES = ("step", "cosine", "plateau")
#: lbfgs_line_search: none (a step of lr along the L-BFGS direction, DeepPseudopot's) or strong_wolfe
LINE_SEARCHES = ("none", "strong_wolfe")
#: final_state: the final_* potential is the lowest-cost epoch's (best) or the last epoch's (last)
FINAL_STATES = ("best", "last")
#: mc_perturb_mode: DeepPseudopot's Monte Carlo perturbations (sepm.fitting.perturb_modes)
MC_PERTURB_MODES = (1, 2, 3, 4)
#: coupling_average: over degenerate states, the gauge-invariant root mean square or DeepPseudopot's mean |M|
COUPLING_AVERAGES = ("rms", "mean_abs")
#: PPmodel_input: the network's input, q (DeepPseudopot's) or q² (v(q) even in q; sepm.models.network)
NETWORK_INPUTS = ("q", "q2")
