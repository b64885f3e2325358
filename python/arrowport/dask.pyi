from collections.abc import Sequence
from typing import Any, Optional, Union

def read(url: str, columns: Union[None, str, Sequence[str]] = None, **options: Any) -> Any: ...
