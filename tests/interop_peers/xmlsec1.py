"""A stand-in for the `xmlsec1` command line tool, for the subset peppol-py calls.

Why: peppol-py encrypts its payload by running an `xmlsec1` >= 1.3 binary (RSA-OAEP with MGF1-SHA256
and AES-GCM need 1.3), and Debian ships 1.2.x. The `xmlsec` wheel bundles libxmlsec1 1.3.9, so this
script answers the same command line with the same library: the encryption is still xmlsec's own,
done on peppol-py's own template; only the argument parsing is ours.

Supported (what peppol-py 1.2.5 runs, plus decrypt so the stand-in can be checked both ways):

    xmlsec1 --encrypt --pubkey-cert-pem CERT --session-key aes-128 --binary-data FILE
            [--output OUT] [--lax-key-search] [--verbose] TEMPLATE
    xmlsec1 --decrypt --privkey-pem KEY[,CERT] [--output OUT] [--lax-key-search] [--verbose] FILE
    xmlsec1 --version

Anything else exits 1 with "unsupported", so a peer that starts needing more fails loudly.
Run with the peer venv's python (which has the `xmlsec` wheel); never imported by the project.
"""

from __future__ import annotations

import sys

SESSION_KEYS = {"aes-128": 128, "aes-192": 192, "aes-256": 256}
VALUE_OPTIONS = {"--pubkey-cert-pem", "--privkey-pem", "--session-key", "--binary-data", "--output", "--pwd"}
FLAG_OPTIONS = {"--lax-key-search", "--verbose"}
COMMANDS = {"--encrypt", "encrypt", "--decrypt", "decrypt", "--version", "version"}


class UsageError(Exception):
    pass


def parse(argv: list[str]) -> tuple[str, dict[str, str], set[str], str | None]:
    if not argv or argv[0] not in COMMANDS:
        raise UsageError(f"unsupported command {argv[:1]!r}")
    command = argv[0].lstrip("-")
    values: dict[str, str] = {}
    flags: set[str] = set()
    positional: list[str] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in VALUE_OPTIONS:
            if i + 1 >= len(argv):
                raise UsageError(f"{arg} needs a value")
            values[arg] = argv[i + 1]
            i += 2
        elif arg in FLAG_OPTIONS:
            flags.add(arg)
            i += 1
        elif arg.startswith("--"):
            raise UsageError(f"unsupported option {arg}")
        else:
            positional.append(arg)
            i += 1
    if len(positional) > 1:
        raise UsageError(f"expected one input file, got {positional}")
    return command, values, flags, positional[0] if positional else None


def read(path: str) -> bytes:
    if path in ("-", "/dev/stdin"):
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def write(values: dict[str, str], data: bytes) -> None:
    out = values.get("--output")
    if out and out != "-":
        with open(out, "wb") as handle:
            handle.write(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def encrypt(values: dict[str, str], template_path: str) -> bytes:
    import xmlsec
    from lxml import etree

    for required in ("--pubkey-cert-pem", "--session-key", "--binary-data"):
        if required not in values:
            raise UsageError(f"--encrypt needs {required} (this stand-in only encrypts binary data)")
    bits = SESSION_KEYS.get(values["--session-key"])
    if bits is None:
        raise UsageError(f"unsupported session key {values['--session-key']!r}")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    template = etree.fromstring(read(template_path), parser)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_file(values["--pubkey-cert-pem"], xmlsec.constants.KeyDataFormatCertPem, None))
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(xmlsec.constants.KeyDataAes, bits, xmlsec.constants.KeyDataTypeSession)
    encrypted = context.encrypt_binary(template, read(values["--binary-data"]))
    return etree.tostring(encrypted.getroottree(), xml_declaration=True, encoding="UTF-8")


def decrypt(values: dict[str, str], document_path: str) -> bytes:
    import xmlsec
    from lxml import etree

    if "--privkey-pem" not in values:
        raise UsageError("--decrypt needs --privkey-pem")
    key_file, _, cert_file = values["--privkey-pem"].partition(",")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    document = etree.fromstring(read(document_path), parser)
    key = xmlsec.Key.from_file(key_file, xmlsec.constants.KeyDataFormatPem, values.get("--pwd"))
    if cert_file:
        key.load_cert_from_file(cert_file, xmlsec.constants.KeyDataFormatPem)
    manager = xmlsec.KeysManager()
    manager.add_key(key)
    context = xmlsec.EncryptionContext(manager)
    node = document if document.tag.endswith("}EncryptedData") else document.find(".//{*}EncryptedData")
    if node is None:
        raise UsageError("no EncryptedData in the input")
    result = context.decrypt(node)
    if isinstance(result, bytes):
        return result
    return etree.tostring(result)


def main(argv: list[str]) -> int:
    try:
        command, values, flags, path = parse(argv)
        if command == "version":
            import xmlsec

            major, minor, patch = xmlsec.get_libxmlsec_version()
            write({}, f"xmlsec1 {major}.{minor}.{patch} (openssl) [peppol-node stand-in]\n".encode())
            return 0
        if path is None:
            raise UsageError("missing input file")
        write(values, encrypt(values, path) if command == "encrypt" else decrypt(values, path))
        return 0
    except UsageError as error:
        print(f"xmlsec1 (peppol-node stand-in): {error}", file=sys.stderr)
        return 1
    except Exception as error:  # xmlsec.Error, OSError, XML errors: report as xmlsec1 would, non-zero
        print(f"xmlsec1 (peppol-node stand-in): {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
