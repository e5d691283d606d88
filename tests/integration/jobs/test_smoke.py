from seawall.jobs import enqueue
from seawall.jobs.worker import Worker
from seawall.runtime import Runtime
from tests.support.effects import count_effects


async def test_committed_job_runs_once(runtime: Runtime) -> None:
    async with runtime.database.transaction() as session:
        job = await enqueue(session, "tests.effect", {"label": "x"})
    worker = Worker(database=runtime.database, settings=runtime.settings)
    await worker.run_until_idle()
    assert await count_effects(runtime.database, job_id=job.id) == 1
