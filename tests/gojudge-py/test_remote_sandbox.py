"""PyPI's go-judge client (go-judge 0.1.0, RemoteSandbox) pointed at `runbox serve`, unmodified:
its own compile-and-run flow (copyIn content, copyOutCached binary, fileId runs, DELETE /file),
run by scripts/gojudge-py.sh with RUNBOX_SERVE_URL set."""

import os

import pytest
from go_judge import RemoteSandbox

URL = os.environ["RUNBOX_SERVE_URL"]
SUM = "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<'\\n';}\n"


@pytest.fixture
def sandbox():
    client = RemoteSandbox(URL, max_workers=4)
    yield client
    client.close()


def test_health(sandbox):
    assert sandbox.check_health()


def test_cpp_compiled_once_and_run_on_many_inputs(sandbox):
    results = sandbox.run_multiple("cpp", SUM, [f"{i} {i}\n" for i in range(8)])
    assert [r["status"] for r in results] == ["Accepted"] * 8, results
    assert [r["stdout"] for r in results] == [f"{2 * i}\n" for i in range(8)]
    assert all(r["time_ns"] > 0 and r["memory_b"] > 0 for r in results)


def test_a_compile_error_comes_back_with_its_message(sandbox):
    result = sandbox.run("cpp", "int main( {")
    assert result["status"] == "Compile Error", result
    assert "error" in result["stderr"]


def test_time_limit(sandbox):
    result = sandbox.run("cpp", "int main(){for(;;);}", exec_cpu_limit_ns=200_000_000)
    assert result["status"] == "Time Limit Exceeded", result


def test_runtime_error_is_the_clients_own_mapping(sandbox):
    result = sandbox.run("cpp", "int main(){return 3;}")
    # go-judge says Nonzero Exit Status; the client passes it through.
    assert (result["status"], result["exit_code"]) == ("Nonzero Exit Status", 3), result


def test_python(sandbox):
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no /usr/bin/python3 on this host")
    result = sandbox.run("python", "print(input()[::-1])", "abc\n")
    assert (result["status"], result["stdout"]) == ("Accepted", "cba\n"), result
