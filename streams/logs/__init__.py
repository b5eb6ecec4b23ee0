"""Log processing: parse headers, mine templates, classify faults (catalogue, generic, novel).

The pieces are usable alone (`parse_line`, `TemplateMiner`, `FaultCatalogue`);
`LogProcessor` chains them for one event at a time. See docs/logs.md.
"""

from streams.logs.catalogue import CatalogueError, FaultCatalogue, FaultEntry, FaultMatch
from streams.logs.drain import MinedTemplate, MinerConfig, TemplateMiner, template_id
from streams.logs.novelty import NoveltyConfig
from streams.logs.parsed import ParsedLine
from streams.logs.parsing import parse_line
from streams.logs.processor import LogProcessor
from streams.logs.severity import SEVERITIES

__all__ = [
    "SEVERITIES",
    "CatalogueError",
    "FaultCatalogue",
    "FaultEntry",
    "FaultMatch",
    "LogProcessor",
    "MinedTemplate",
    "MinerConfig",
    "NoveltyConfig",
    "ParsedLine",
    "TemplateMiner",
    "parse_line",
    "template_id",
]
