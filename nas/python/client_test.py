#!/usr/bin/python3
"""The Python client against a real `nas serve` (started by client_test.sh): train a tiny
supernet, search it with typed progress to the end, read the typed Pareto front, export
the best subnet, and check the errors a user meets."""

import os
import sys
import unittest

from nas_client import Job, NasClient, NasError

import grpc
import nas_pb2

SERVER = os.environ["NAS_SERVER"]


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = NasClient(SERVER, timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def test_train_search_front_export(self):
        c = self.client
        space = c.describe_space("tiny")
        self.assertEqual(space.num_classes, 10)
        self.assertGreater(len(space.genes), 0)

        training = c.submit_training("train_tiny.yaml", steps=6)
        steps = [j.training_progress.step for j in c.watch(training.id) if j.training_progress.step]
        self.assertTrue(steps, "no typed training progress")
        self.assertEqual(steps, sorted(steps))
        trained = c.result(training.id)
        self.assertIsInstance(trained, nas_pb2.TrainingResult)
        self.assertTrue(trained.finished)
        self.assertEqual(trained.steps, 6)

        checkpoint = f"jobs/{training.id}/checkpoint.nasckpt"
        search = c.submit_search(evaluator="supernet:" + checkpoint, combine="none", algorithm="random",
                                 budget=4, seed=3, objectives=["accuracy", "min:flops"], request_id="py-search-1")
        again = c.submit_search(evaluator="supernet:" + checkpoint, combine="none", algorithm="random",
                                budget=4, seed=3, objectives=["accuracy", "min:flops"], request_id="py-search-1")
        self.assertEqual(again.id, search.id)
        evaluated = []
        final = None
        for job in c.watch(search.id):
            final = job
            if job.search_progress.evaluated:
                evaluated.append(job.search_progress.evaluated)
                self.assertEqual(job.search_progress.budget, 4)
                self.assertTrue(job.search_progress.best.has_accuracy)
        self.assertEqual(final.state, Job.SUCCEEDED, final.error)
        self.assertEqual(evaluated[-1], 4)
        result = c.result(search.id)
        self.assertIsInstance(result, nas_pb2.SearchResult)
        self.assertEqual(result.evaluations, 4)
        self.assertEqual(list(result.pareto_front_objectives), ["accuracy", "flops"])
        self.assertGreaterEqual(len(result.pareto_front), 1)
        # The front is non-dominated: along rising FLOPs, accuracy rises.
        front = sorted(result.pareto_front, key=lambda e: e.flops)
        for a, b in zip(front, front[1:]):
            self.assertLess(a.flops, b.flops)
            self.assertLess(a.accuracy, b.accuracy)
        self.assertIn(result.best.arch, [e.arch for e in result.pareto_front])

        exported = c.export(checkpoint, result.best.arch, "py-best")
        self.assertEqual(exported.arch, result.best.arch)
        self.assertIn("subnet.pt", list(exported.files))
        self.assertLess(exported.max_abs_diff, 1e-4)
        self.assertTrue(os.path.isfile(os.path.join(exported.output_dir, "subnet.pt")))
        self.assertTrue(exported.onnx)
        self.assertIn("subnet.onnx", list(exported.files))
        self.assertEqual(list(exported.batch_sizes_checked), [1, 7, 64])
        with self.assertRaises(NasError):
            c.export(checkpoint, result.best.arch, "py-best")  # The name is taken.
        replaced = c.export(checkpoint, "smallest", "py-best", force=True, onnx=False)
        self.assertFalse(replaced.onnx)
        self.assertFalse(os.path.exists(os.path.join(replaced.output_dir, "subnet.onnx")))

        tuning = c.submit_finetune(checkpoint, result.best.arch, steps=2, verify_images=64)
        tuned = c.result(tuning.id)
        self.assertIsInstance(tuned, nas_pb2.FineTuneResult)
        self.assertEqual(tuned.arch, result.best.arch)
        self.assertEqual(tuned.training.steps, 2)
        self.assertEqual(tuned.bundle.test_images, 64)
        self.assertTrue(os.path.isfile(os.path.join(tuned.bundle.output_dir, "subnet.pt")))

        searches = list(c.jobs(state=Job.SUCCEEDED, kind="search"))
        self.assertIn(search.id, [j.id for j in searches])

    def test_errors_name_the_field(self):
        c = self.client
        with self.assertRaises(NasError) as e:
            c.submit_search(space="tiny", evaluator="cost", budget=-1, objectives=["flops"])
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("spec.budget", str(e.exception))
        with self.assertRaises(NasError) as e:
            c.job("job-999999")
        self.assertEqual(e.exception.code, grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(NasError) as e:
            c.export("jobs/none/checkpoint.nasckpt", "largest", "x")
        self.assertIn("checkpoint", str(e.exception))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
