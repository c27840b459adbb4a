"""Placeholder: the staff HTML pages are being written next."""

from fastapi import APIRouter

router = APIRouter()
