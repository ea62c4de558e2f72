"""Mixed precision: `autocast` (each op in the dtype that suits it) and `GradScaler`
(dynamic loss scaling), as torch.autocast and torch.amp.GradScaler."""
from .autocast_mode import (FLOAT32_OPS, LOWER_PRECISION_OPS, autocast,  # noqa: F401
                            get_autocast_dtype, is_autocast_enabled)
from .grad_scaler import GradScaler, GradScalerError  # noqa: F401
