# Network: name lookups, by the resolver and by a raw DNS query to the configured name servers.
import socket
for name in ("example.com", "pypi.org", "localhost"):
    try:
        addresses = socket.getaddrinfo(name, 80)
        if name != "localhost":
            print(ESCAPED + "resolved " + name + " " + str(addresses[:1]))
    except Exception as e:
        print(name, e)
query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
for server in ("8.8.8.8", "1.1.1.1", "127.0.0.53", CANARY_HOST):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.5)
        s.sendto(query, (server, 53 if server != CANARY_HOST else CANARY_UDP_PORT))
        s.recvfrom(512)
        print(ESCAPED + "dns answer from " + server)
    except Exception as e:
        print(server, e)
