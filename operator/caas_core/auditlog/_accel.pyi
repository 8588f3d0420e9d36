# The cffi module compiled from accel.c by hack/build_audit_accelerator.py (see accel.py).
from typing import Any

ffi: Any
lib: Any
