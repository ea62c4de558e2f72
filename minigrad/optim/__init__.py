"""Optimizers, learning-rate schedules and gradient clipping (as `torch.optim`).

    opt = minigrad.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    sched = minigrad.optim.NoamLR(opt, d_model=512, warmup_steps=4000)
    loss.backward(); clip_grad_norm_(model.parameters(), 1.0); opt.step(); sched.step(); opt.zero_grad()
"""
from . import lr_scheduler  # noqa: F401  (torch.optim.lr_scheduler spelling)
from .adam import Adam, AdamW
from .adam_variants import Adadelta, Adamax, NAdam, RAdam
from .adaptive import Adagrad, RMSprop
from .clip import clip_grad_norm_, clip_grad_value_
from .lr_scheduler import (ConstantLR, CosineAnnealingLR, CosineWithWarmup, CyclicLR,  # noqa: F401
                           ExponentialLR,
                           LambdaLR, LinearLR, LRScheduler, MultiplicativeLR, MultiStepLR, NoamLR,
                           OneCycleLR,
                           PolynomialLR, ReduceLROnPlateau, SequentialLR, StepLR)
from .optimizer import Optimizer
from .sgd import SGD
