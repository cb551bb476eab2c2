"""A small Python client for `nas serve` (package nas.v1).

The message and stub modules (nas_pb2, nas_pb2_grpc) are generated from proto/nas.proto
by the build (`bazel build //nas/python:nas_proto_py`, into bazel-bin/nas/python); put that
directory and this one on PYTHONPATH. Needs Debian's python3-grpcio and python3-protobuf.

    from nas_client import NasClient
    client = NasClient("127.0.0.1:50051")
    job = client.submit_search(space="nb201", evaluator="table:/data/nb201.csv",
                               constraints=["flops<=100M"], budget=200)
    for progress in client.watch(job.id):
        print(progress.search_progress.evaluated, progress.search_progress.best.accuracy)
    result = client.result(job.id)          # nas_pb2.SearchResult
    print(result.best.arch, [e.arch for e in result.pareto_front])
"""

import grpc

import nas_pb2
import nas_pb2_grpc

Job = nas_pb2.Job


class NasError(Exception):
    """A call the server refused or a job that did not succeed; `code` is a grpc.StatusCode
    (None for a job that ended FAILED or CANCELLED)."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class NasClient:
    """One channel to a server. `token`: the server's bearer token; `root_certificates`:
    PEM bytes of the CA of a TLS server. `timeout`: seconds per unary call."""

    def __init__(self, target, token=None, root_certificates=None, timeout=60.0):
        if root_certificates is not None:
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates))
        else:
            self._channel = grpc.insecure_channel(target)
        self._stub = nas_pb2_grpc.NasServiceStub(self._channel)
        self._metadata = [("authorization", "Bearer " + token)] if token else []
        self._timeout = timeout

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request, timeout=None):
        try:
            return method(request, metadata=self._metadata, timeout=timeout or self._timeout)
        except grpc.RpcError as e:
            raise NasError(f"{e.code().name}: {e.details()}", e.code()) from None

    # Spaces and single architectures.
    def describe_space(self, space):
        return self._call(self._stub.DescribeSpace, nas_pb2.DescribeSpaceRequest(space=space))

    def evaluate(self, space, arch, checkpoint="", latency=""):
        request = nas_pb2.EvaluateArchitectureRequest(
            architecture=nas_pb2.Architecture(space=space, arch=arch), checkpoint=checkpoint, latency=latency)
        return self._call(self._stub.EvaluateArchitecture, request)

    # Jobs.
    def submit_search(self, request_id="", **spec):
        """Starts a search; keyword arguments are SearchSpec fields (space, evaluator,
        algorithm, objectives, constraints, budget, seed, population, latency, combine, ...).
        A repeated request_id returns the job it started before."""
        request = nas_pb2.StartSearchRequest(request_id=request_id, spec=nas_pb2.SearchSpec(**spec))
        return self._call(self._stub.StartSearch, request)

    def submit_training(self, config, steps=0, batch_size=0, request_id=""):
        """Starts supernet training from a training config in the server's config directory."""
        spec = nas_pb2.TrainingSpec(config=config, steps=steps, batch_size=batch_size)
        return self._call(self._stub.StartTraining, nas_pb2.StartTrainingRequest(request_id=request_id, spec=spec))

    def submit_finetune(self, checkpoint, arch, config="", steps=0, from_scratch=False, verify_images=0,
                        request_id=""):
        """Fine-tunes one architecture of a trained supernet; the result (FineTuneResult) has
        the training summary and the deployment bundle with its test accuracy."""
        spec = nas_pb2.FineTuneSpec(checkpoint=checkpoint, arch=arch, config=config, steps=steps,
                                    from_scratch=from_scratch, verify_images=verify_images)
        return self._call(self._stub.StartFineTune, nas_pb2.StartFineTuneRequest(request_id=request_id, spec=spec))

    def job(self, job_id):
        return self._call(self._stub.GetJob, nas_pb2.GetJobRequest(id=job_id))

    def jobs(self, state=None, kind="", page_size=100):
        """Every job (optionally of one state, a Job.State value, or kind), page by page."""
        request = nas_pb2.ListJobsRequest(page_size=page_size, kind=kind, state=state or 0)
        while True:
            page = self._call(self._stub.ListJobs, request)
            yield from page.jobs
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def cancel(self, job_id):
        return self._call(self._stub.CancelJob, nas_pb2.CancelJobRequest(id=job_id))

    def watch(self, job_id, timeout=None):
        """Yields the job each time it changes (typed progress in search_progress or
        training_progress) until it reaches a final state; the last one yielded is final."""
        try:
            for event in self._stub.WatchJob(nas_pb2.WatchJobRequest(id=job_id), metadata=self._metadata,
                                             timeout=timeout):
                yield event.job
        except grpc.RpcError as e:
            raise NasError(f"{e.code().name}: {e.details()}", e.code()) from None

    def wait(self, job_id, timeout=None):
        """Blocks until the job ends; returns its final record."""
        last = None
        for last in self.watch(job_id, timeout=timeout):
            pass
        return last if last is not None else self.job(job_id)

    def result(self, job_id, timeout=None):
        """Waits for the job and returns its typed result (SearchResult, TrainingResult or
        FineTuneResult);
        raises NasError when it failed or was cancelled."""
        job = self.wait(job_id, timeout=timeout)
        if job.state != Job.SUCCEEDED:
            raise NasError(f"{job.id} {Job.State.Name(job.state)}: {job.error}")
        if job.kind == "search":
            return job.search_result
        return job.finetune_result if job.kind == "finetune" else job.training_result

    # Deployment.
    def export(self, checkpoint, arch, name, batch_size=0, space="", force=False, onnx=True, int8=False,
               quantized_engine="", timeout=600.0):
        """Exports `arch` ("largest", "smallest" or an architecture string) of a trained
        supernet as a bundle in the server's DATA_DIR/exports/NAME: subnet.pt (TorchScript)
        and, unless onnx=False, subnet.onnx, both for any batch size (docs/deployment.md).
        An existing bundle of that name is replaced only with force=True. batch_size: of
        the export's checks and scoring (0: the server's default). int8=True quantizes every
        searched layer to 8 bits after training (architectures with bit-width genes below 32
        are exported quantized anyway); quantized bundles run integer kernels of
        quantized_engine ("onednn", "qnnpack"; "" for the fastest) and have no subnet.onnx."""
        request = nas_pb2.ExportSubnetRequest(architecture=nas_pb2.Architecture(space=space, arch=arch),
                                              checkpoint=checkpoint, name=name, batch_size=batch_size,
                                              force=force, skip_onnx=not onnx, int8=int8,
                                              quantized_engine=quantized_engine)
        return self._call(self._stub.ExportSubnet, request, timeout=timeout)
