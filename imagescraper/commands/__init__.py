"""Scrapy commands of this project (COMMANDS_MODULE); `crawl` replaces Scrapy's own."""
