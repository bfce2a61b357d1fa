# Network: reach the host's loopback canary over TCP and UDP, by address and by name.
import socket
for host in (CANARY_HOST, "localhost", "::ffff:127.0.0.1"):
    try:
        socket.create_connection((host, CANARY_PORT), 1).close()
        print(ESCAPED + "connected to " + host)
    except Exception as e:
        print(host, e)
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"hello", (CANARY_HOST, CANARY_UDP_PORT))
except Exception as e:
    print("udp", e)
