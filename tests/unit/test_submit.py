"""`lastmile run --jobmanager`: a wrong address is one readable line before anything starts."""
import socket

import pytest

from lastmile.errors import StackError
from lastmile.run import _check_jobmanager


@pytest.mark.parametrize("address", ["nonsense", "127.0.0.1:", ":8081", "host:port"])
def test_an_address_without_host_and_port_is_refused(tmp_config, address):
    with pytest.raises(StackError, match="expected HOST:PORT"):
        _check_jobmanager(tmp_config, address)


def test_an_address_where_no_cluster_answers_is_refused(tmp_config):
    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(StackError, match=f"no Flink cluster answers at {address}"):
            _check_jobmanager(tmp_config, address)
