from desktop.context import AppContext
from desktop.pages.placeholder import PlaceholderPage


class ChatPage(PlaceholderPage):
    title = "Chat"

    def __init__(self, context: AppContext, parent=None):
        super().__init__(self.title, "This page is not built yet.", parent)
        self.context = context

    def shutdown(self) -> None:
        pass
