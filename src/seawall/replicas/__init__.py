"""Read replicas (issue 15): user-facing reads that may be stale go to a PostgreSQL streaming replica.

- `engine`: the replica's pool of read-only transactions (`ReplicaEngine`).
- `health`: its health and replay lag, checked once per interval per process (`ReplicaHealth`).
- `marks`: read-your-writes, which users wrote within the window (`WriteMarks`; Redis or in process).
- `routing`: the decision per read and the fallback to the primary (`ReadRouter`, `UserReads`); its
  docstring says what goes where and why the rest stays on the primary.
- `middleware`: marks the user of every request that wrote, before its answer is sent.
- `report`: the replica's state for `seawall doctor`.
"""

from seawall.replicas.engine import ReplicaEngine
from seawall.replicas.health import ReplicaHealth, ReplicaState
from seawall.replicas.marks import WriteMarks
from seawall.replicas.routing import ReadRouter, UserReads

__all__ = ["ReadRouter", "ReplicaEngine", "ReplicaHealth", "ReplicaState", "UserReads", "WriteMarks"]
