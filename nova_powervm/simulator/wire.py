"""HTTP answer object shared by the request handlers."""


class Response(object):
    def __init__(self, status, body=b'', headers=None):
        self.status = status
        self.body = body
        self.headers = headers or {}


def xml_response(status, body, etag=None):
    headers = {'Content-Type': 'application/atom+xml'}
    if etag is not None:
        headers['etag'] = etag
    return Response(status, body, headers)
