"""A mirror of the upstream URL layouts, served from verified bundles or exported as files.

routes     bundles -> the route table (pure)
documents  the generated bodies: channels, releases API, stable.txt, the index page (pure)
files      opening bundle files without following links, hashing them (disk)
server     `mirror serve` on aiohttp
export     `mirror export`: the same tree as static files plus an nginx snippet
"""
