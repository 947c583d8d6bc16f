"""The pytest plugin, exercised the way a user's suite uses it: inner pytest runs (pytester,
in subprocesses so their import patching stays there) over a small application written for
kafka-python / confluent-kafka."""
import importlib.metadata
import textwrap

pytest_plugins = ["pytester"]


def _plugin_args():
    """Load the plugin in the inner run: by its entry point when eventlog is installed, else
    explicitly (PYTHONPATH-only checkouts)."""
    eps = importlib.metadata.entry_points(group="pytest11")
    if any(ep.value == "eventlog.pytest_plugin" for ep in eps):
        return []
    return ["-p", "eventlog.pytest_plugin"]


APP = textwrap.dedent('''
    """A tiny application written for kafka-python: it knows nothing of eventlog."""
    import json
    import os

    import kafka

    SERVERS = os.environ.get("KAFKA_SERVERS", "kafka.internal:9092")


    def publish(orders):
        producer = kafka.KafkaProducer(bootstrap_servers=SERVERS,
                                       value_serializer=lambda v: json.dumps(v).encode(),
                                       key_serializer=str.encode)
        for o in orders:
            producer.send("orders", o, key=o["customer"])
        producer.flush()
        producer.close()


    def total_per_customer(group="billing", expected=None, timeout_ms=3000):
        consumer = kafka.KafkaConsumer("orders", group_id=group, bootstrap_servers=SERVERS,
                                       auto_offset_reset="earliest", enable_auto_commit=False,
                                       value_deserializer=lambda b: json.loads(b),
                                       consumer_timeout_ms=timeout_ms)
        totals, n = {}, 0
        for rec in consumer:
            totals[rec.key.decode()] = totals.get(rec.key.decode(), 0) + rec.value["amount"]
            n += 1
            if expected is not None and n >= expected:
                break
        consumer.commit()
        consumer.close()
        return totals


    def worker(group, out_dir):
        """A long-running consumer process: appends what it reads to out_dir/<pid>."""
        consumer = kafka.KafkaConsumer(group_id=group, bootstrap_servers=SERVERS,
                                       auto_offset_reset="earliest")
        consumer.subscribe(["orders"])
        try:
            with open(os.path.join(out_dir, str(os.getpid())), "a") as f:
                while True:
                    for recs in consumer.poll(timeout_ms=200).values():
                        for r in recs:
                            f.write(f"{r.partition} {r.offset}\\n")
                        f.flush()
        finally:
            consumer.close()
''')


def test_fixtures_route_facade_clients_to_the_test_log(pytester):
    pytester.makepyfile(test_fixtures='''
        import eventlog
        from eventlog.compat import kafka, confluent_kafka

        def test_log_and_dir(eventlog_log, eventlog_dir, eventlog_bootstrap):
            assert isinstance(eventlog_log, eventlog.Log)
            assert eventlog_log.path == str(eventlog_dir)
            assert eventlog_bootstrap == "eventlog://" + str(eventlog_dir)
            eventlog_log.create_topic("orders", partitions=3)
            # servers from the application's config are redirected to this test's log
            p = kafka.KafkaProducer(bootstrap_servers="broker:9092")
            md = p.send("orders", b"v", key=b"k").get(5)
            p.close()
            assert eventlog_log.topic("orders").partition(md.partition).end_offset == 1

        def test_each_test_gets_a_fresh_log(eventlog_log):
            assert eventlog_log.topics() == []

        def test_confluent(eventlog_log):
            p = confluent_kafka.Producer({"bootstrap.servers": "broker:9092"})
            p.produce("t", b"x")
            assert p.flush(5) == 0
            p.close()
            assert eventlog_log.topics() == ["t"]
    ''')
    r = pytester.runpytest_subprocess(*_plugin_args())
    r.assert_outcomes(passed=3)


def test_marker_and_fixtures_patch_imports(pytester):
    pytester.makepyfile(app=APP)
    pytester.makepyfile(test_marker='''
        import pytest, sys

        @pytest.mark.eventlog_patch("kafka")
        def test_marked():
            import app
            app.publish([{"customer": "ann", "amount": 3}, {"customer": "bob", "amount": 4},
                         {"customer": "ann", "amount": 5}])
            assert app.total_per_customer(expected=3) == {"ann": 8, "bob": 4}
            sys.modules.pop("app")

        def test_fixture(eventlog_kafka, eventlog_log):
            import kafka
            assert kafka is eventlog_kafka
            import app
            app.publish([{"customer": "cy", "amount": 1}])
            assert app.total_per_customer(expected=1) == {"cy": 1}
            sys.modules.pop("app")

        def test_unpatched_afterwards():
            import eventlog.compat
            assert not eventlog.compat.patched("kafka")
    ''')
    r = pytester.runpytest_subprocess(*_plugin_args())
    r.assert_outcomes(passed=3)


def test_one_line_of_config_switches_a_whole_suite(pytester):
    """The worked example of docs/testing.md: the application and its tests are unchanged;
    the ini line patches `import kafka` before they are imported."""
    pytester.makepyfile(app=APP)
    pytester.makeini("[pytest]\neventlog_patch = kafka\n")
    pytester.makepyfile(test_app='''
        import app   # imports kafka at module level, before any fixture runs

        def test_totals():
            app.publish([{"customer": "ann", "amount": 3}, {"customer": "ann", "amount": 2}])
            assert app.total_per_customer(expected=2) == {"ann": 5}

        def test_commit_resumes():
            app.publish([{"customer": "bob", "amount": 1}])
            assert app.total_per_customer(expected=1) == {"bob": 1}
            app.publish([{"customer": "bob", "amount": 10}])
            # same group: starts after the committed offset
            assert app.total_per_customer(expected=1) == {"bob": 10}

        def test_isolated():
            assert app.total_per_customer(timeout_ms=200) == {}
    ''')
    r = pytester.runpytest_subprocess(*_plugin_args())
    r.assert_outcomes(passed=3)


def test_one_line_switch_patches_before_conftest_imports(pytester):
    """A suite whose root conftest imports the clients (and the application) at its top still
    gets the facades: the ini line patches before pytest imports the initial conftests."""
    pytester.makepyfile(app=APP)
    pytester.makeini("[pytest]\neventlog_patch = kafka confluent_kafka\n")
    pytester.makeconftest('''
        import confluent_kafka
        import confluent_kafka.admin
        from confluent_kafka.serialization import StringSerializer
        import kafka
        from kafka.admin import KafkaAdminClient
        import app

        import pytest

        @pytest.fixture
        def clients():
            return confluent_kafka, kafka, KafkaAdminClient, app
    ''')
    pytester.makepyfile(test_early='''
        def test_conftest_got_the_facades(clients):
            ck, k, admin_cls, app = clients
            assert ck.Producer.__module__.startswith("eventlog.compat.confluent_kafka")
            assert ck.admin.AdminClient.__module__.startswith("eventlog.compat.confluent_kafka")
            assert k.KafkaProducer.__module__.startswith("eventlog.compat.kafka")
            assert admin_cls.__module__.startswith("eventlog.compat.kafka")
            assert app.kafka is k
            app.publish([{"customer": "ann", "amount": 3}])
            assert app.total_per_customer(expected=1) == {"ann": 3}
    ''')
    r = pytester.runpytest_subprocess(*_plugin_args())
    r.assert_outcomes(passed=1)
    # the command-line form is applied as early
    pytester.makeini("[pytest]\n")
    r = pytester.runpytest_subprocess(*_plugin_args(), "--eventlog-patch=kafka,confluent_kafka")
    r.assert_outcomes(passed=1)


def test_a_per_test_patch_warns_when_the_application_imported_the_real_client(pytester):
    """Without the session switch, a module imported at collection time keeps the real
    client; the marker / fixture cannot reach it: the plugin names the module and the fix."""
    pytester.makepyfile(app=APP)
    pytester.makepyfile(other='from confluent_kafka import Producer\n')
    pytester.makepyfile(test_late='''
        import pytest
        import app      # the real kafka-python, imported before any test patches it
        import other    # the real confluent-kafka

        @pytest.mark.eventlog_patch("kafka")
        def test_marked():
            pass

        def test_fixture(eventlog_confluent_kafka):
            pass

        def test_again(eventlog_kafka):     # warned once per module per session
            pass
    ''')
    r = pytester.runpytest_subprocess(*_plugin_args(), "-W", "always")
    r.assert_outcomes(passed=3)
    out = r.stdout.str()
    assert "EventlogPatchWarning: module 'app' imported the real kafka before the eventlog_patch marker" in out
    assert "module 'other' imported the real confluent_kafka before the eventlog_confluent_kafka fixture" in out
    assert "other.Producer is the real client's" in out
    assert 'eventlog_patch = ["kafka"]' in out and "--eventlog-patch=confluent_kafka" in out
    assert out.count("module 'app' imported the real kafka") == 1
    # with the session switch there is nothing to warn about
    pytester.makeini("[pytest]\neventlog_patch = kafka confluent_kafka\n")
    r = pytester.runpytest_subprocess(*_plugin_args(), "-W", "always")
    r.assert_outcomes(passed=3)
    assert "EventlogPatchWarning" not in r.stdout.str()


def test_workers_balance_and_rebalance_after_a_kill(pytester):
    pytester.makepyfile(app=APP)
    pytester.makepyfile(test_workers='''
        import time
        import pytest

        @pytest.mark.eventlog_patch("kafka")
        def test_pool(eventlog_log, eventlog_workers, tmp_path):
            import app   # after the marker patched `import kafka`
            eventlog_log.create_topic("orders", partitions=6)
            out = tmp_path / "out"
            out.mkdir()
            workers = eventlog_workers.start(app.worker, "billing", str(out), n=3)
            assignment = eventlog_workers.wait_balanced("billing", timeout=30)
            assert len(assignment) == 3
            assert sorted(len(v) for v in assignment.values()) == [2, 2, 2]
            app.publish([{"customer": f"c{i}", "amount": i} for i in range(60)])
            workers[0].kill()                       # SIGKILL: its partitions move at once
            assignment = eventlog_workers.wait_balanced("billing", members=2, timeout=30)
            assert sorted(len(v) for v in assignment.values()) == [3, 3]
            app.publish([{"customer": f"d{i}", "amount": i} for i in range(60)])
            def seen():
                lines = set()
                for f in out.iterdir():
                    lines |= set(f.read_text().split("\\n")) - {""}
                return lines
            deadline = time.monotonic() + 30
            while len(seen()) < 120 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(seen()) == 120       # every record read (some maybe twice, none lost)
            eventlog_workers.stop_all()
            assert all(not w.alive() for w in workers)
            assert eventlog_log.group("billing").members() == []
    ''')
    r = pytester.runpytest_subprocess(*_plugin_args())
    r.assert_outcomes(passed=1)


def test_wait_for_group_reports_what_it_saw(pytester):
    pytester.makepyfile(test_wait='''
        import pytest
        from eventlog.pytest_plugin import GroupNotBalanced, wait_for_group

        def test_timeout(eventlog_log):
            eventlog_log.create_topic("t", partitions=2)
            with pytest.raises(GroupNotBalanced, match="0 live member.*waiting for 2"):
                wait_for_group(eventlog_log, "nobody", members=2, topics=["t"], timeout=0.2)

        def test_in_process(eventlog_log):
            eventlog_log.create_topic("t", partitions=2)
            c = eventlog_log.consumer(group_id="g")
            c.subscribe(["t"])
            c.poll(0.5)
            got = wait_for_group(eventlog_log, "g", members=1, timeout=10)
            assert list(got.values()) == [[("t", 0), ("t", 1)]]
            c.close()
    ''')
    r = pytester.runpytest_subprocess(*_plugin_args())
    r.assert_outcomes(passed=2)
