from __future__ import annotations

import pytest

from regscout.analysis.details import dockerfile_line, mask_env


@pytest.mark.parametrize(
    ("created_by", "line"),
    [
        ('/bin/sh -c #(nop)  CMD ["bash"]', 'CMD ["bash"]'),
        ("/bin/sh -c #(nop) ADD file:abc in / ", "ADD file:abc in /"),
        ("/bin/sh -c apt-get update && apt-get install -y curl", "RUN apt-get update && apt-get install -y curl"),
        ("|2 VERSION=1 TARGET=x /bin/sh -c make $TARGET", "RUN make $TARGET"),
        ("RUN /bin/sh -c pip install flask # buildkit", "RUN pip install flask"),
        ("COPY app /app # buildkit", "COPY app /app"),
        ("ENV PATH=/usr/local/bin", "ENV PATH=/usr/local/bin"),
        ("something custom", "something custom"),
    ],
)
def test_dockerfile_line(created_by: str, line: str) -> None:
    assert dockerfile_line(created_by) == line


def test_mask_env() -> None:
    env = mask_env(
        [
            "PATH=/bin",
            "AWS_SECRET_ACCESS_KEY=abc",
            "GITHUB_TOKEN=t",
            "DB_PASSWORD=",
            "EMPTY",
            "HOME=/root",
            "SSL_CERT_FILE=/etc/ssl/cert.pem",
            "X=a=b",
        ]
    )
    assert env == {
        "PATH": "/bin",
        "AWS_SECRET_ACCESS_KEY": "****",
        "GITHUB_TOKEN": "****",
        "DB_PASSWORD": "",
        "EMPTY": "",
        "HOME": "/root",
        "SSL_CERT_FILE": "****",
        "X": "a=b",
    }
