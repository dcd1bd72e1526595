"""Questions and answers: teams ask, admins answer, edit, hide, delete and announce. Under /api/v1 and MLS-GOAT's
/qa routes (one answer per question: an answer's id is its question's)."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from gateway.goat_paths import goat_paths
from gateway.identity import admin_only, principal, signed_in
from gateway.state import GatewayState
from proto import identity as ops


class NewAnswer(msgspec.Struct, frozen=True):
    content: str


class QAController(Controller):
    tags = ["q&a"]
    guards = [signed_in]

    @get(["/api/v1/qa/questions", *goat_paths("/qa/questions")],
         summary="Questions visible to the caller, newest first")
    async def list_questions(self, request: Request, state: GatewayState, skip: FromQuery[int] = 0,
                             limit: FromQuery[int] = 50) -> list[ops.QuestionView]:
        reply = await state.services.call(
            ops.LIST_QUESTIONS, ops.ListQuestions(skip=skip, limit=limit), actor=principal(request)
        )
        return reply.questions

    @post(["/api/v1/qa/questions", *goat_paths("/qa/questions")], status_code=200, summary="Ask a question")
    async def ask(self, request: Request, state: GatewayState, data: JSONBody[ops.NewQuestion]) -> ops.QuestionView:
        return await state.services.call(
            ops.POST_QUESTION, ops.PostQuestion(**msgspec.structs.asdict(data)), actor=principal(request))

    @post("/api/v1/qa/announcements", status_code=200, guards=[admin_only], summary="Announce to every team")
    async def announce(self, request: Request, state: GatewayState, data: JSONBody[ops.NewQuestion]
                       ) -> ops.QuestionView:
        return await state.services.call(
            ops.POST_QUESTION, ops.PostQuestion(announcement=True, **msgspec.structs.asdict(data)),
            actor=principal(request))

    @get(["/api/v1/qa/questions/{question_id:int}", *goat_paths("/qa/questions/{question_id:int}")],
         summary="One question")
    async def get_question(self, request: Request, state: GatewayState, question_id: FromPath[int]) -> ops.QuestionView:
        return await state.services.call(
            ops.GET_QUESTION, ops.GetQuestion(question_id=question_id), actor=principal(request)
        )

    @put(["/api/v1/qa/questions/{question_id:int}", *goat_paths("/qa/questions/{question_id:int}")],
         summary="Answer, edit or hide (admins); edit one's own unanswered question (teams)")
    async def update_question(self, request: Request, state: GatewayState, question_id: FromPath[int],
                              data: JSONBody[ops.QuestionChanges]
                              ) -> ops.QuestionView:
        return await state.services.call(
            ops.UPDATE_QUESTION, ops.UpdateQuestion(question_id=question_id, **msgspec.structs.asdict(data)),
            actor=principal(request))

    @post(["/api/v1/qa/questions/{question_id:int}/answers", *goat_paths("/qa/questions/{question_id:int}/answers")],
          status_code=200, guards=[admin_only], summary="Answer a question (admins; a new answer replaces the old)")
    async def answer(self, request: Request, state: GatewayState, question_id: FromPath[int], data: JSONBody[NewAnswer]
                     ) -> ops.Answer:
        question = await state.services.call(
            ops.UPDATE_QUESTION, ops.UpdateQuestion(question_id=question_id, answer=data.content),
            actor=principal(request))
        return question.latest_answers[0]

    @delete(["/api/v1/qa/questions/{question_id:int}", *goat_paths("/qa/questions/{question_id:int}")],
            status_code=200, summary="Delete a question (admins; the asking team its own while unanswered)")
    async def delete_question(self, request: Request, state: GatewayState, question_id: FromPath[int]) -> ops.Deleted:
        return await state.services.call(
            ops.DELETE_QUESTION, ops.DeleteQuestion(question_id=question_id), actor=principal(request))

    @delete(["/api/v1/qa/answers/{answer_id:int}", *goat_paths("/qa/answers/{answer_id:int}")], status_code=200,
            guards=[admin_only], summary="Remove an answer (admins): its question is unanswered again")
    async def delete_answer(self, request: Request, state: GatewayState, answer_id: FromPath[int]) -> ops.QuestionView:
        return await state.services.call(
            ops.DELETE_ANSWER, ops.DeleteAnswer(answer_id=answer_id), actor=principal(request))
