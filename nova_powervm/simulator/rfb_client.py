"""A minimal VNC (RFB) client, as nova's VNC proxy reaches a console.

For the simulator's tests and the demo: connect to a console the way nova's
proxy does (an HTTP ``CONNECT <path>`` to pypowervm's console listener), then
read the server's RFB greeting.  Only the standard library.
"""
import socket
import urllib.parse


def recv_exact(sock, size):
    """Read ``size`` bytes (fewer only if the peer closed)."""
    data = b''
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def rfb_connect(host, port, path, timeout=10, greeting=True):
    """Connect as nova's VNC proxy does.

    :return: (socket, the listener's HTTP answer, the 12-byte RFB greeting
        or None when ``greeting`` is false or the CONNECT was refused).
    """
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.sendall(b'CONNECT %s HTTP/1.1\r\n\r\n' % path.encode())
    answer = b''
    while not answer.endswith(b'\r\n\r\n'):
        chunk = sock.recv(1)
        if not chunk:
            break
        answer += chunk
    if not greeting:
        return sock, answer, None
    hello = b''
    if answer.startswith(b'HTTP/1.1 200'):
        hello = recv_exact(sock, 12)
    return sock, answer, hello


def console_token(url):
    """The console auth token in a nova console URL (noVNC's forms)."""
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    token = query.get('token') or urllib.parse.parse_qs(
        urllib.parse.urlparse(query['path'][0]).query)['token']
    return token[0]
